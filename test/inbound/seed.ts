import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../../src/db/connection.js';
import { insertReturningId } from '../../src/db/connection.js';
import type { ProductionStatus } from '../../src/domain/contract-status.js';
import { applyReportFile } from '../../src/inbound/apply-report.js';
import { readReportHeader, type ReportReadOptions } from '../../src/inbound/parse-report.js';
import { buildReportXml, type ReportInput } from '../../src/inbound/report-format.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { newPanKey } from '../helpers/db.js';

/**
 * Puts cards into a sent batch directly (the send job is another module): one client, card n is
 * makeCard(n) (contract 1000+n, plastic 5000+n), record numbers in order.
 */
export interface SeededBatch {
  batchId: number;
  fileName: string;
  /** card_contracts.id by card number n */
  ids: Map<number, number>;
}

const cipher = new PanCipher(newPanKey());
let sequence = 0;

export async function seedBatch(
  db: Db, cards: number[], options: { fileName?: string; status?: ProductionStatus; now?: string } = {},
): Promise<SeededBatch> {
  const now = options.now ?? '2026-11-25T17:00:00.000Z';
  const seq = ++sequence;
  const fileName = options.fileName ?? `BXISSUER_PERSO_20261125_${String(seq).padStart(6, '0')}.dat.pgp`;
  const batchId = await insertReturningId(db, 'perso_batches', {
    business_date: '2026-11-25', sequence: seq, file_name: fileName, state: 'sent', record_count: cards.length,
    created_at: now, updated_at: now, sent_at: now,
  });
  const clientId = await insertReturningId(db, 'clients', { first_name: 'Jane', last_name: 'Doe', created_at: now, updated_at: now });
  const rows = cards.map((n) => {
    const card = makeCard(n);
    const pan = cipher.encrypt(card.pan, { contractNumber: card.contractId, plasticId: card.plasticId });
    return {
      contract_number: card.contractId, plastic_id: card.plasticId, client_id: clientId, card_form: 'physical', plastic_seq: 2,
      pan_enc: pan.panEnc, pan_last4: pan.panLast4, pan_hmac: pan.panHmac, expiry: card.expiry, request_type: 'NEW',
      product_code: card.productCode, chip_profile: card.chipProfile, delivery_method: 1, pin_mailer: 'Y',
      production_status: options.status ?? 'InProduction', batch_id: batchId, created_at: now, updated_at: now,
    };
  });
  for (let i = 0; i < rows.length; i += 40) await db('card_contracts').insert(rows.slice(i, i + 40));
  const ids = new Map<number, number>();
  const numbers = cards.map((n) => makeCard(n).contractId);
  for (let i = 0; i < numbers.length; i += 900) {
    const found = await db('card_contracts').select('id', 'contract_number').where({ batch_id: batchId }).whereIn('contract_number', numbers.slice(i, i + 900));
    for (const r of found) ids.set(Number(r.contract_number) - 1000, Number(r.id));
  }
  const items = cards.map((n, i) => ({ batch_id: batchId, record_number: i + 1, contract_id: ids.get(n)! }));
  for (let i = 0; i < items.length; i += 300) await db('batch_items').insert(items.slice(i, i + 300));
  return { batchId, fileName, ids };
}

/** A contract row by card number, for assertions. */
export async function contractOf(db: Db, n: number): Promise<Record<string, any>> {
  return db('card_contracts').where({ contract_number: String(1000 + n) }).first();
}

/**
 * Applies the report `report` describes as the receive job does once it has decrypted it: its clear
 * XML written to `dir` under its hash, the header read, then applyReportFile.
 */
export async function applyBuiltReport(db: Db, dir: string, report: ReportInput, read: ReportReadOptions, now = '2026-11-26T07:00:00.000Z') {
  const xml = buildReportXml(report);
  const sha256 = createHash('sha256').update(xml).digest('hex');
  const clearFile = join(dir, `${sha256}.xml`);
  writeFileSync(clearFile, xml);
  const header = await readReportHeader(clearFile, read);
  return applyReportFile(db, { clearFile, header, remoteName: `R_${sha256.slice(0, 8)}.xml.rsa`, sha256, clearSha256: sha256, kind: 'rsa', localPath: clearFile }, { read, log: silentLogger, now });
}
