import type { Command } from 'commander';
import { withApp } from '../app.js';
import { isValidDate } from '../calendar/index.js';
import { REQUIRED_KEYS, requireKeys } from '../config/load.js';
import { UsageError } from '../errors.js';
import type { SendResult } from '../jobs.js';
import { sendRunCounts } from '../daemon/run-history.js';
import { withProgressShown } from '../progress/show.js';
import { abortOnSignals } from '../signals.js';
import { runManually } from './manual-run.js';
import { productionSendJobs } from '../wiring.js';
import { bureausOf } from './options.js';
import { forEachBureau } from './bureau-runs.js';
import { printTable } from './output.js';

export const order = 40;

interface SendFlags {
  bureau?: string;
  businessDate?: string;
  force?: boolean;
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command('send')
    .description('finish unfinished batches, then claim Marked cards, encrypt their personalization file(s) and upload them')
    .option('--bureau <code>', 'send to this bureau only (default: every configured bureau in turn)')
    .option('--business-date <date>', 'YYYY-MM-DD (default: today in schedule.timezone)')
    .option('--force', 'send even when the date is not a business day')
    .option('--dry-run', 'validate and render only: print counts and Invalid reasons, change nothing, upload nothing')
    .action(async (opts: SendFlags, cmd: Command) => {
      // a real date: 2026-02-30 would name a file of a day that does not exist (--dry-run showed it)
      if (opts.businessDate !== undefined && !isValidDate(opts.businessDate)) {
        throw new UsageError(`--business-date: ${JSON.stringify(opts.businessDate)} is not a date YYYY-MM-DD`);
      }
      await withApp(cmd.optsWithGlobals(), async (app) => {
        const all = productionSendJobs(app);
        const jobs = bureausOf({ bureaus: all }, opts.bureau);
        for (const { bureau } of jobs) requireKeys(bureau.config, [...REQUIRED_KEYS.encrypt, ...(opts.dryRun ? [] : REQUIRED_KEYS.sftp)], 'send');
        // the first SIGINT/SIGTERM lets the current batch reach its next state and stops there; a second one exits
        const stop = abortOnSignals((name) => process.stderr.write(`bureau-exchange: ${name}: stopping after the current batch (again to exit now)\n`));
        try {
          await forEachBureau('send', jobs, { several: all.length > 1, signal: stop.signal }, async ({ bureau, job }) => {
            // the history names the run after the job's lease: `send` for the first bureau, `send:<CODE>` for the others
            const name = bureau.lease;
            const options = { businessDate: opts.businessDate, force: opts.force, dryRun: opts.dryRun, signal: stop.signal };
            // a dry run changes nothing, the history included
            const result = opts.dryRun ? await job.run(options)
              : await withProgressShown(name, app.log, (progress) => runManually(app, name, (o) => job.run(o), { ...options, progress }, sendRunCounts));
            printResult(result, Boolean(opts.dryRun));
            if ((result.invalidTotal ?? result.invalid.length) > 0 && process.exitCode === undefined) process.exitCode = 3;
          });
        } finally {
          stop.dispose();
        }
      });
    });
}

function printResult(result: SendResult, dryRun: boolean): void {
  const out = process.stdout;
  if (result.notBusinessDay) out.write(`not a business day (${result.notBusinessDay}): nothing new claimed; --force sends anyway\n`);
  out.write(dryRun ? 'Files a send would make (nothing changed, nothing uploaded)\n' : 'Files\n');
  printTable(result.batches.map((b) => ({ file: b.fileName, records: b.records, state: b.state })));
  const invalidTotal = result.invalidTotal ?? result.invalid.length;
  if (!dryRun) out.write(`${result.cardsSent} card(s) sent in ${result.batches.length} file(s)\n`);
  out.write(`${invalidTotal} card(s) ${dryRun ? 'would be set' : 'set'} Invalid\n`);
  if (result.invalid.length) {
    printTable(result.invalid.map((i) => ({ contract: i.contractNumber, plastic: i.plasticId, reason: i.reason })));
    if (invalidTotal > result.invalid.length) out.write(`… and ${invalidTotal - result.invalid.length} more (contracts list --status Invalid)\n`);
  }
}
