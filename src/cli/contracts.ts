import type { Command } from 'commander';
import { withApp } from '../app.js';
import { importContracts } from '../contracts/import.js';
import { listContracts, type ContractListing } from '../db/contracts.js';
import { isProductionStatus } from '../domain/contract-status.js';
import { UsageError } from '../errors.js';
import { silentLogger } from '../log.js';
import { maskPan } from '../security/mask.js';
import { PanIntegrityError, type PanCipher } from '../security/pan.js';
import { wholeNumber } from './options.js';
import { printTable } from './output.js';

export const order = 20;

export function register(program: Command): void {
  const contracts = program.command('contracts').description('import and list card contracts');

  contracts
    .command('import <file>')
    .description('import cards from JSON Lines or CSV (upsert by contractId + plasticId); bad lines are reported and skipped')
    .action(async (file: string, _opts: unknown, cmd: Command) => {
      await withApp(cmd.optsWithGlobals(), async ({ db, cipher }) => {
        // each skipped line is printed just below, once: the import's own log line would repeat it
        const result = await importContracts(db, file, cipher, silentLogger);
        for (const p of result.skipped) process.stderr.write(`${file}: line ${p.line}: ${p.message}\n`);
        process.stdout.write(`${file}: ${result.inserted} inserted, ${result.updated} updated, ${result.skipped.length} skipped\n`);
        if (result.skipped.length) process.exitCode = 3;
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
        if (opts.json) shown.forEach((r) => process.stdout.write(JSON.stringify(r) + '\n'));
        else printTable(shown);
      }, { readOnly: true });
    });
}

function present(row: ContractListing, cipher: PanCipher) {
  return {
    contract: row.contractNumber,
    plastic: row.plasticId,
    pan: maskedPan(row, cipher),
    status: row.status,
    reason: row.reason ? `${row.rejectCode ?? ''} ${row.reason}`.trim() : '',
    batchFile: row.batchFile ?? '',
    expected: row.expectedShipDate ?? '',
    shipped: row.shipDate ?? '',
    tracking: [row.courier, row.trackingNumber].filter(Boolean).join(' '),
  };
}

/** A stored PAN that is not this card's (moved from another row, changed) is listed as such, not fatal. */
function maskedPan(row: ContractListing, cipher: PanCipher): string {
  try {
    return maskPan(cipher.decrypt(row.panEnc, { contractNumber: row.contractNumber, plasticId: row.plasticId, panLast4: row.panLast4 }));
  } catch (err) {
    if (err instanceof PanIntegrityError) return "(unreadable: not this card's)";
    throw err;
  }
}
