import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { PROJECT_ROOT } from './config/load.js';
import { ConfigError, UsageError, messageOf } from './errors.js';
import { LOG_LEVELS, scrub } from './log.js';

/** Exit codes, for systemd and cron: documented in the README. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, PARTIAL: 3 } as const;

/** A command module in src/cli/: it adds its commands to the program. */
export interface CommandModule {
  register(program: Command): void;
  /** position in --help (lower first) */
  order?: number;
}

export async function buildProgram(): Promise<Command> {
  const program = new Command('bureau-exchange')
    .description('Exchange personalization files and reports with a card personalization bureau')
    .option('-c, --config <file>', 'config file (default: $BX_CONFIG, else config/default.yaml)')
    .option('--pretty', 'human-readable log lines (default when stderr is a terminal; logs go to stderr)')
    .addOption(new Option('--log-level <level>', 'log level (default: log.level of the config)').choices(LOG_LEVELS))
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride();
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'cli');
  const modules: CommandModule[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (/\.(ts|js)$/.test(file) && !file.endsWith('.d.ts') && !file.endsWith('.map')) {
      const module = await import(pathToFileURL(join(dir, file)).href);
      if (typeof module.register === 'function') modules.push(module);
    }
  }
  modules.sort((a, b) => (a.order ?? 50) - (b.order ?? 50)).forEach((m) => m.register(program));
  return program;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * A reader that stops early (`status | head`) closes stdout: the command has nothing more to say,
 * so it ends quietly with 0, as Unix tools do, instead of dying on an unhandled EPIPE.
 */
function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EXIT.OK);
  });
}

/** Runs the CLI: one clear line on error (never a stack trace for expected errors), and an exit code. */
export async function main(argv: string[]): Promise<number> {
  endQuietlyWhenStdoutCloses();
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? EXIT.OK : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    const usage = err instanceof ConfigError || err instanceof UsageError;
    process.stderr.write(scrub(`bureau-exchange: ${usage ? '' : 'error: '}${messageOf(err)}`) + '\n');
    if (!usage && process.env.BX_DEBUG && err instanceof Error) process.stderr.write(scrub(err.stack ?? '') + '\n');
    return usage ? EXIT.USAGE : EXIT.FAILURE;
  }
}

if (process.argv[1] && /(cli\.(ts|js)|bureau-exchange(\.js)?)$/.test(process.argv[1])) {
  process.exitCode = await main(process.argv);
}
