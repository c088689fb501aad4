import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { withApp } from '../app.js';
import { importContracts, type ImportProblem } from '../contracts/import.js';
import { contractStory, type CardStory } from '../db/contract-story.js';
import { listContracts, type ContractListing } from '../db/contracts.js';
import { isProductionStatus } from '../domain/contract-status.js';
import { InputError, UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { maskPan, maskPansInText } from '../security/mask.js';
import { PanIntegrityError, PanKeyError, type PanCipher } from '../security/pan.js';
import { wholeNumber } from './options.js';
import { terminalSafe } from '../security/shown-text.js';
import { printJson, printTable } from './output.js';

export const order = 20;

export function register(program: Command): void {
  const contracts = program.command('contracts').description('import, list and show card contracts');

  contracts
    .command('import <file>')
    .description('import cards from JSON Lines or CSV (upsert by contractId + plasticId); bad lines are reported and skipped')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      await withApp(cmd.optsWithGlobals(), async ({ db, cipher }) => {
        // the file's name is input too (a card system may name an export after a card)
        const name = terminalSafe(maskPansInText(file));
        await checkIsFile(file, name);
        // each skipped line is printed as it is found, every one of them (the result lists the first
        // thousand only), and once: the import's own log line would repeat it
        const onSkip = (p: ImportProblem) => process.stderr.write(`${name}: line ${p.line}: ${terminalSafe(p.message)}\n`);
        const result = await importContracts(db, file, cipher, silentLogger, { onSkip });
        process.stdout.write(`${name}: ${result.inserted} inserted, ${result.updated} updated, ${result.skippedCount} skipped\n`);
        if (result.skippedCount) process.exitCode = 3;
      });
    });

  contracts
    .command('list')
    .description('list contracts with masked PAN, status, reason, batch file and shipment')
    .option('--status <status>', 'only this production status')
    .option('--limit <n>', 'at most n rows', '1000')
    .option('--json', 'JSON lines instead of a table')
    .action(async (opts: { status?: string; limit: string; json?: boolean }, cmd: Command) => {
      if (opts.status && !isProductionStatus(opts.status)) throw new UsageError(`--status: unknown status ${opts.status}`);
      const limit = wholeNumber(opts.limit, '--limit');
      await withApp(cmd.optsWithGlobals(), async ({ db, cipher }) => {
        const rows = await listContracts(db, { status: opts.status as any, limit });
        const shown = rows.map((r) => present(r, cipher));
        if (opts.json) shown.forEach((r) => printJson(r, 0));
        else printTable(shown);
      }, { readOnly: true });
    });

  registerShow(contracts);
}

/**
 * A path that is not a regular file is a wrong argument (exit 2): a folder failed with a message naming
 * no file (EISDIR), and a device or a pipe (/dev/zero, a FIFO nobody writes) was read without end. A
 * file that cannot be read (not there yet, no permission) is a failure (exit 1): a later run may succeed.
 */
async function checkIsFile(file: string, name: string): Promise<void> {
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => err);
  if (info instanceof Error) throw new InputError(`cannot be read (${info.code ?? info.message})`, { file: name });
  if (!info.isFile()) throw new UsageError(`${name}: not a file (${info.isDirectory() ? 'a folder' : 'a device, pipe or socket'})`);
}

/** `contracts show ID`: every card of the contract with its story; read-only. */
function registerShow(contracts: Command): void {
  contracts
    .command('show <contractId>')
    .description("a contract's cards: fields (PAN masked), status, every event with its source, the batch files and reports that touched them")
    .option('--json', 'one JSON document instead of text')
    .action(async (contractId: string, opts: { json?: boolean }, cmd: Command) => {
      if (!/^\d{1,15}$/.test(contractId)) throw new UsageError(`contract id: 1 to 15 digits, not ${JSON.stringify(contractId)}`);
      await withApp(cmd.optsWithGlobals(), async ({ db, cipher }) => {
        const cards = await contractStory(db, contractId);
        if (!cards.length) throw new UsageError(`contract ${contractId}: no such contract (contracts list shows the known ones)`);
        const shown = cards.map(({ panEnc, panLast4, ...card }) => ({ ...maskedStory(card), pan: maskedPan({ contractNumber: card.contractNumber, plasticId: card.plasticId, panEnc, panLast4 }, cipher) }));
        if (opts.json) printJson(shown);
        else shown.forEach((card, i) => printStory(card, i > 0));
      }, { readOnly: true });
    });
}

/**
 * The story's text from outside (the bureau's reasons, couriers, tracking numbers, anomalies, report
 * names) with any PAN masked: the receive masks them as it stores them, and this is the last line
 * for a row stored otherwise (an older version). The contract and plastic ids stay whole: a 15-digit
 * contract number may pass the Luhn check.
 */
function maskedStory<T extends Omit<CardStory, 'panEnc' | 'panLast4'>>(card: T): T {
  const mask = (text: string | null) => (text === null ? null : maskPansInText(text));
  return {
    ...card, reason: mask(card.reason), courier: mask(card.courier), trackingNumber: mask(card.trackingNumber),
    events: card.events.map((e) => ({ ...e, sourceName: mask(e.sourceName), detail: mask(e.detail) })),
    reports: card.reports.map((r) => ({ ...r, remoteName: maskPansInText(r.remoteName), anomaly: mask(r.anomaly) })),
  };
}

function printStory(card: Omit<CardStory, 'panEnc' | 'panLast4'> & { pan: string }, gap: boolean): void {
  const out = process.stdout;
  if (gap) out.write('\n');
  out.write(terminalSafe(`Contract ${card.contractNumber}, plastic ${card.plasticId}: ${card.status}${card.reason ? ` (${[card.rejectCode, card.reason].filter(Boolean).join(' ')})` : ''}`) + '\n');
  printTable([
    { field: 'PAN', value: card.pan },
    { field: 'holder', value: `${card.holder}, ${card.city} ${card.country}`.trim() },
    { field: 'product', value: `${card.productCode} (${card.cardForm}, ${card.requestType}, plastic seq ${card.plasticSeq}, expiry ${card.expiry})` },
    { field: 'delivery method', value: card.deliveryMethod },
    { field: 'shipment', value: [card.expectedShipDate && `expected ${card.expectedShipDate}`, card.shipDate && `shipped ${card.shipDate}`, card.courier, card.trackingNumber].filter(Boolean).join(', ') },
    { field: 'created / updated', value: `${card.createdAt} / ${card.updatedAt}` },
  ]);
  out.write('\nEvents\n');
  printTable(card.events.map((e) => ({ at: e.at, change: `${e.from ?? '(new)'} -> ${e.to}`, source: e.source, file: e.sourceName ?? '', detail: e.detail ?? '' })));
  out.write('\nBatch files\n');
  printTable(card.batches.map((b) => ({ file: b.fileName, 'business date': b.businessDate, state: b.state, record: b.recordNumber, sent: b.sentAt ?? '' })));
  out.write('\nReports\n');
  printTable(card.reports.map((r) => ({ id: r.id, report: r.remoteName, state: r.state, date: r.reportDate ?? '', anomaly: r.anomaly ?? '' })));
}

function present(row: ContractListing, cipher: PanCipher) {
  return {
    contract: row.contractNumber,
    plastic: row.plasticId,
    pan: maskedPan(row, cipher),
    status: row.status,
    // the bureau's text, masked again here (see maskedStory)
    reason: row.reason ? maskPansInText(`${row.rejectCode ?? ''} ${row.reason}`.trim()) : '',
    batchFile: row.batchFile ?? '',
    expected: row.expectedShipDate ?? '',
    shipped: row.shipDate ?? '',
    tracking: maskPansInText([row.courier, row.trackingNumber].filter(Boolean).join(' ')),
  };
}

/**
 * A stored PAN that is not this card's (moved from another row, changed), or under a key no longer
 * configured, is listed as such, not fatal: a listing is what an operator reads to find those cards.
 */
function maskedPan(row: Pick<ContractListing, 'contractNumber' | 'plasticId' | 'panEnc' | 'panLast4'>, cipher: PanCipher): string {
  try {
    return maskPan(cipher.decrypt(row.panEnc, { contractNumber: row.contractNumber, plasticId: row.plasticId, panLast4: row.panLast4 }));
  } catch (err) {
    if (err instanceof PanIntegrityError) return "(unreadable: not this card's)";
    if (err instanceof PanKeyError) return `(unreadable: under key ${err.keyId}, not configured)`;
    throw err;
  }
}
