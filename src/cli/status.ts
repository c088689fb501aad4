import type { Command } from 'commander';
import { withApp } from '../app.js';
import { statusSummary, type StatusSummary } from '../db/status-summary.js';
import { PRODUCTION_STATUSES } from '../domain/contract-status.js';
import { shellWord } from '../security/shown-text.js';
import { bureausOf } from './options.js';
import { printJson, printTable, scrubbed } from './output.js';

export const order = 30;

export function register(program: Command): void {
  program
    .command('status')
    .description("counts per production status, each bureau's batches (unsent ones by state), recent batches and reports, quarantined reports, plastic stock")
    .option('--bureau <code>', "this bureau's batches only (default: every bureau's)")
    .option('--json', 'one JSON document instead of tables')
    .action(async (opts: { bureau?: string; json?: boolean }, cmd: Command) => {
      const globals = cmd.optsWithGlobals();
      await withApp(globals, async ({ db, config }) => {
        const codes = config.bureaus.map((b) => b.code);
        const only = opts.bureau === undefined ? undefined : bureausOf(config, opts.bureau)[0]!.code;
        const summary = scrubbed(await statusSummary(db, 10, { bureaus: codes, ...(only ? { only: { code: only, first: only === codes[0] } } : {}) }));
        if (opts.json) printJson(summary);
        else printSummary(summary, `bureau-exchange${globals.config ? ` --config ${shellWord(globals.config)}` : ''}`);
      }, { readOnly: true });
    });
}

/** One row per production status; Shipped split into cards with a ship date and cards only announced. */
function contractRows(s: StatusSummary): Array<Record<string, string | number>> {
  return PRODUCTION_STATUSES.flatMap((status) => {
    if (status !== 'Shipped') return [{ status, cards: s.contracts[status] ?? 0, note: '' }];
    const { shipped, expected, expectedFrom, expectedTo } = s.shipments;
    const window = expectedFrom === expectedTo ? `${expectedFrom}` : `${expectedFrom} to ${expectedTo}`;
    return [
      { status: 'Shipped', cards: shipped, note: 'the bureau reported the ship date' },
      { status: 'Expected', cards: expected, note: expected ? `status Shipped, not shipped yet: expected ${window}` : 'status Shipped, not shipped yet' },
    ];
  });
}

function printSummary(s: StatusSummary, command: string): void {
  const out = process.stdout;
  out.write('Contracts by production status\n');
  printTable(contractRows(s));
  out.write('\nBatches per bureau (claimed, encrypted, uploaded: not sent yet, resumed by its next send)\n');
  printTable(s.bureaus.map((b) => ({ bureau: b.bureau, ...b.batches, unsent: b.unsent })));
  out.write('\nRecent batches\n');
  printTable(s.batches.map((b) => ({ bureau: b.bureau, file: b.fileName, state: b.state, records: b.records, created: b.createdAt, sent: b.sentAt ?? '', error: b.lastError ?? '' })));
  out.write('\nRecent reports\n');
  printTable(s.reports.map((r) => ({ file: r.remoteName, state: r.state, source: r.sourceFile ?? '', rejected: r.rejections, shipped: r.shipments, anomalies: r.anomalies })));
  if (s.quarantined.length) {
    out.write('\nQuarantined reports\n');
    printTable(s.quarantined.map((r) => ({ id: r.id, file: r.remoteName, reason: r.error ?? '', at: r.createdAt })));
    out.write(`After fixing the cause, put a report back for the next receive: ${command} receive --requeue <id>\n` +
      `  e.g. ${command} receive --requeue ${s.quarantined[0]!.id}   (every one: --requeue all)\n`);
  }
  out.write('\nPlastic stock\n');
  printTable(s.stock.map((x) => ({ bureau: x.bureauCode ?? '', product: x.productCode, closing: x.closing, minimum: x.minStock, low: x.low ? 'LOW' : '', report: x.reportDate ?? '' })));
}
