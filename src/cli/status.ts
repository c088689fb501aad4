import type { Command } from 'commander';
import { withApp } from '../app.js';
import { statusSummary, type StatusSummary } from '../db/status-summary.js';
import { PRODUCTION_STATUSES } from '../domain/contract-status.js';
import { printTable } from './output.js';

export const order = 30;

export function register(program: Command): void {
  program
    .command('status')
    .description('counts per production status, recent batches and reports, quarantined reports, plastic stock')
    .option('--json', 'one JSON document instead of tables')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withApp(cmd.optsWithGlobals(), async ({ db }) => {
        const summary = await statusSummary(db);
        if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        else printSummary(summary);
      });
    });
}

function printSummary(s: StatusSummary): void {
  const out = process.stdout;
  out.write('Contracts by production status\n');
  printTable(PRODUCTION_STATUSES.map((status) => ({ status, cards: s.contracts[status] ?? 0 })));
  out.write('\nRecent batches\n');
  printTable(s.batches.map((b) => ({ file: b.fileName, state: b.state, records: b.records, created: b.createdAt, sent: b.sentAt ?? '', error: b.lastError ?? '' })));
  out.write('\nRecent reports\n');
  printTable(s.reports.map((r) => ({ file: r.remoteName, state: r.state, source: r.sourceFile ?? '', rejected: r.rejections, shipped: r.shipments, anomalies: r.anomalies })));
  if (s.quarantined.length) {
    out.write('\nQuarantined reports\n');
    printTable(s.quarantined.map((r) => ({ file: r.remoteName, reason: r.error ?? '', at: r.createdAt })));
  }
  out.write('\nPlastic stock\n');
  printTable(s.stock.map((x) => ({ product: x.productCode, closing: x.closing, minimum: x.minStock, low: x.low ? 'LOW' : '', report: x.reportDate ?? '' })));
}
