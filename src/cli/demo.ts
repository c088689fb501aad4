import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { CARDS_USAGE, MAX_DEMO_CARDS, runDemo, SEED_PATTERN, SEED_USAGE } from '../sandbox/demo.js';
import { formatDemoSummary } from '../sandbox/demo-summary.js';

export const order = 5;

export function register(program: Command): void {
  program
    .command('demo')
    .description('the whole exchange on this machine, nothing to install: sandbox bureau, generated cards, send, report, receive')
    .option('--cards <n>', 'how many contracts to generate', '1000')
    .option('--dir <dir>', 'sandbox folder (default: a new temp folder)')
    .option('--seed <n>', 'seed of the generated cards and the bureau decisions', '1')
    .action(async (opts: { cards: string; dir?: string; seed: string }) => {
      if (!/^\d+$/.test(opts.cards) || Number(opts.cards) < 1 || Number(opts.cards) > MAX_DEMO_CARDS) throw new UsageError(CARDS_USAGE);
      if (!SEED_PATTERN.test(opts.seed)) throw new UsageError(SEED_USAGE);
      const started = Date.now();
      let outcome;
      try {
        outcome = await runDemo({ cards: Number(opts.cards), dir: opts.dir, seed: Number(opts.seed), progress: progressLine() });
      } finally {
        // an error message must not land on the end of the progress line
        if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      }
      process.stdout.write(formatDemoSummary(outcome));
      process.stdout.write(`  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      if (!outcome.ok) process.exitCode = 1;
    });
}

/** On a terminal one line rewritten in place; otherwise one line per step. */
function progressLine(): (step: string) => void {
  const tty = Boolean(process.stderr.isTTY);
  return (step) => process.stderr.write(tty ? `\r\x1b[K${step}` : `${step}\n`);
}
