import type { Command } from 'commander';
import { withApp, type App } from '../app.js';
import { REQUIRED_KEYS, requireKeys } from '../config/load.js';
import { receiveBureaus, type ReceiveBureau } from '../inbound/receive-bureau.js';
import { requeueQuarantined } from '../inbound/requeue.js';
import { UsageError } from '../errors.js';
import type { ReceiveResult } from '../jobs.js';
import { receiveRunCounts } from '../daemon/run-history.js';
import { withProgressShown } from '../progress/show.js';
import { abortOnSignals } from '../signals.js';
import { runManually } from './manual-run.js';
import { productionReceiveJob, productionTransport } from '../wiring.js';
import { forEachBureau } from './bureau-runs.js';
import { bureausOf } from './options.js';
import { printJson, printTable } from './output.js';

export const order = 41;

/** bureau_reports.id is an auto-increment integer (32 bits on every database) */
const MAX_REPORT_ID = 2_147_483_647;

interface ReceiveFlags {
  bureau?: string;
  json?: boolean;
  requeue?: string;
}

export function register(program: Command): void {
  program
    .command('receive')
    .description('one pass: download bureau reports, decrypt, apply status updates exactly once, quarantine bad ones (exit 1 if any was quarantined)')
    .option('--bureau <code>', 'receive from this bureau only (default: every configured bureau in turn)')
    .option('--json', 'print the result as JSON (with several bureaus: by bureau code)')
    .option('--requeue <id|all>', 'first put quarantined report(s) back from failed/ (after fixing the cause), then run the pass')
    .action(async (opts: ReceiveFlags, cmd: Command) => {
      // an id as the database holds it (a 32-bit integer column): 99999999999999999999 found nothing and said so as "(none)"
      if (opts.requeue !== undefined && opts.requeue !== 'all' && !(/^\d+$/.test(opts.requeue) && Number(opts.requeue) >= 1 && Number(opts.requeue) <= MAX_REPORT_ID)) {
        throw new UsageError(`--requeue: ${JSON.stringify(opts.requeue)} is neither a report id (1 to ${MAX_REPORT_ID}) nor "all"`);
      }
      await withApp(cmd.optsWithGlobals(), async (app) => {
        const all = receiveBureaus(app.config);
        const bureaus = bureausOf({ bureaus: all }, opts.bureau);
        for (const bureau of bureaus) requireKeys(bureau.config, REQUIRED_KEYS.sftp, 'receive');
        const stop = abortOnSignals(() => process.stderr.write('bureau-exchange: stopping after the current report (again to exit now)\n'));
        const results: Record<string, ReceiveResult> = {};
        try {
          await forEachBureau('receive', bureaus, { several: all.length > 1 && !opts.json, signal: stop.signal }, async (bureau) => {
            results[bureau.code] = await receiveFrom(app, bureau, opts, stop.signal);
          });
        } finally {
          stop.dispose();
          const codes = Object.keys(results);
          if (opts.json && codes.length) printJson(bureaus.length === 1 ? results[codes[0]!] : results);
        }
      });
    });
}

/** One bureau's pass (after putting back its quarantined reports when asked), recorded in the history as its lease: `receive` or `receive:<CODE>`. */
async function receiveFrom(app: App, bureau: ReceiveBureau, opts: ReceiveFlags, signal: AbortSignal): Promise<ReceiveResult> {
  const { config, db, log } = app;
  const transport = productionTransport(app, {}, bureau.config);
  if (opts.requeue !== undefined) {
    const requeued = await requeueQuarantined({ db, config, bureau, log, transport }, opts.requeue === 'all' ? undefined : Number(opts.requeue));
    if (!opts.json) {
      process.stdout.write('Requeued reports\n');
      printTable(requeued.map((r) => ({ id: r.id, file: r.remoteName, outcome: r.refused ?? 'put back' })));
      process.stdout.write('\n');
    }
  }
  const job = productionReceiveJob(app, {}, transport, bureau);
  const name = bureau.lease;
  const result = await withProgressShown(name, log, (progress) => runManually(app, name, (o) => job.run(o), { signal, progress }, receiveRunCounts));
  if (!opts.json) printResult(result);
  if (result.quarantined.length) process.exitCode = 1;
  return result;
}

function printResult(result: ReceiveResult): void {
  const out = process.stdout;
  out.write('Applied reports\n');
  printTable(result.applied.map((r) => ({ file: r.remoteName, rejected: r.rejections, shipped: r.shipments, stock: r.stockItems, anomalies: r.anomalies })));
  if (result.quarantined.length) {
    out.write('\nQuarantined reports\n');
    printTable(result.quarantined.map((r) => ({ file: r.remoteName, reason: r.reason })));
  }
  out.write(`\n${result.applied.length} applied, ${result.quarantined.length} quarantined, ${result.duplicates} already applied before\n`);
}
