import type { Command } from 'commander';
import { withApp } from '../app.js';
import { REQUIRED_KEYS, requireKeys } from '../config/load.js';
import { requeueQuarantined } from '../inbound/requeue.js';
import { UsageError } from '../errors.js';
import type { ReceiveResult } from '../jobs.js';
import { receiveRunCounts } from '../daemon/run-history.js';
import { withProgressShown } from '../progress/show.js';
import { abortOnSignals } from '../signals.js';
import { runManually } from './manual-run.js';
import { productionReceiveJob, productionTransport } from '../wiring.js';
import { printTable } from './output.js';

export const order = 41;

export function register(program: Command): void {
  program
    .command('receive')
    .description('one pass: download bureau reports, decrypt, apply status updates exactly once, quarantine bad ones (exit 1 if any was quarantined)')
    .option('--json', 'print the result as JSON')
    .option('--requeue <id|all>', 'first put quarantined report(s) back from failed/ (after fixing the cause), then run the pass')
    .action(async (opts: { json?: boolean; requeue?: string }, cmd: Command) => {
      if (opts.requeue !== undefined && opts.requeue !== 'all' && !/^\d+$/.test(opts.requeue)) {
        throw new UsageError(`--requeue: ${JSON.stringify(opts.requeue)} is neither a report id nor "all"`);
      }
      await withApp(cmd.optsWithGlobals(), async (app) => {
        const { config, db, log } = app;
        requireKeys(config, REQUIRED_KEYS.sftp, 'receive');
        const transport = productionTransport(app);
        if (opts.requeue !== undefined) {
          const requeued = await requeueQuarantined({ db, config, log, transport }, opts.requeue === 'all' ? undefined : Number(opts.requeue));
          if (!opts.json) {
            process.stdout.write('Requeued reports\n');
            printTable(requeued.map((r) => ({ id: r.id, file: r.remoteName, outcome: r.refused ?? 'put back' })));
            process.stdout.write('\n');
          }
        }
        const job = productionReceiveJob(app, {}, transport);
        const stop = abortOnSignals(() => process.stderr.write('bureau-exchange: stopping after the current report (again to exit now)\n'));
        try {
          const result = await withProgressShown('receive', app.log, (progress) => runManually(app, 'receive', (o) => job.run(o), { signal: stop.signal, progress }, receiveRunCounts));
          if (opts.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
          else printResult(result);
          if (result.quarantined.length) process.exitCode = 1;
        } finally {
          stop.dispose();
        }
      });
    });
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
