import type { Knex } from 'knex';
import type { ProductionStatus } from '../domain/contract-status.js';
import type { ContractRow } from './contracts.js';
import { dialectOf, nowIso } from './connection.js';

/**
 * The card_contracts side of applying a bureau report: finding the contracts of the named source
 * file, and set-based status updates (one statement per a few hundred contracts, so 100,000
 * updates take seconds, not minutes, on PostgreSQL too).
 */

/** A contract as a report record sees it: the columns a rejection or shipment reads or changes. */
export type ReportedContract = Pick<ContractRow,
  'id' | 'contract_number' | 'plastic_id' | 'production_status' | 'batch_id' | 'reject_code' | 'reject_reason'
  | 'expected_ship_date' | 'ship_date' | 'courier' | 'tracking_number'>;

export interface SourceBatch {
  id: number;
  /** the bureau it was sent to; null on batches from before migration 005, the first bureau's */
  bureau_code: string | null;
  file_name: string;
  record_count: number;
  state: string;
}

/** SQLite binds at most 999 values per statement: every IN list and CASE stays below. */
const LOOKUP_CHUNK = 900;
const UPDATE_CHUNK = 200;

/**
 * The batch of this exact file name. MariaDB compares text case-insensitively (the database's
 * utf8mb4_general_ci): there a SourceFile in other letter case found our file and its records
 * applied, where SQLite and PostgreSQL found none; the name read back must be the one asked for.
 */
export async function findBatchByFileName(trx: Knex | Knex.Transaction, fileName: string): Promise<SourceBatch | undefined> {
  const row = await trx('perso_batches').select('id', 'bureau_code', 'file_name', 'record_count', 'state').where({ file_name: fileName }).first();
  return row && row.file_name === fileName ? { ...row, id: Number(row.id), record_count: Number(row.record_count) } : undefined;
}

const CONTRACT_COLUMNS = [
  'c.id', 'c.contract_number', 'c.plastic_id', 'c.production_status', 'c.batch_id', 'c.reject_code', 'c.reject_reason',
  'c.expected_ship_date', 'c.ship_date', 'c.courier', 'c.tracking_number',
];

function toReported(r: any): ReportedContract {
  return { ...r, id: Number(r.id), batch_id: r.batch_id === null ? null : Number(r.batch_id) };
}

/**
 * The contracts at the given record numbers of batch `batchId` (a report's RecordSequence is the
 * record number in our file): an index range on batch_items' primary key, the fast path.
 */
export async function contractsByRecordNumber(trx: Knex.Transaction, batchId: number, recordNumbers: number[]): Promise<Map<number, ReportedContract>> {
  const unique = [...new Set(recordNumbers)].sort((a, b) => a - b);
  const found = new Map<number, ReportedContract>();
  for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) {
    const part = unique.slice(i, i + LOOKUP_CHUNK);
    const dense = part[part.length - 1]! - part[0]! < 2 * part.length;
    const query = trx('batch_items as bi').join('card_contracts as c', 'c.id', 'bi.contract_id').where('bi.batch_id', batchId)
      .select('bi.record_number', ...CONTRACT_COLUMNS);
    const rows = await (dense ? query.whereBetween('bi.record_number', [part[0]!, part[part.length - 1]!]) : query.whereIn('bi.record_number', part));
    for (const r of rows) {
      const { record_number: recordNumber, ...contract } = r;
      found.set(Number(recordNumber), toReported(contract));
    }
  }
  return found;
}

/** The contracts (all their plastics) that were items of batch `batchId`, among `contractNumbers` (canonical). */
export async function contractsInBatch(trx: Knex.Transaction, batchId: number, contractNumbers: string[]): Promise<ReportedContract[]> {
  const unique = [...new Set(contractNumbers)];
  const found: ReportedContract[] = [];
  for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) {
    const rows = await trx('card_contracts as c')
      .join('batch_items as bi', 'bi.contract_id', 'c.id')
      .where('bi.batch_id', batchId)
      .whereIn('c.contract_number', unique.slice(i, i + LOOKUP_CHUNK))
      .select(...CONTRACT_COLUMNS);
    for (const r of rows) found.push(toReported(r));
  }
  return found;
}

/**
 * Locks these contracts' rows until the commit and returns them as they are now (PostgreSQL, MariaDB;
 * SQLite has one writer, its transaction began IMMEDIATE, and nothing changes under it). The card
 * system writes card_contracts beside us: a card it re-ordered (Marked again) after a report read it and
 * before the report wrote it was set Shipped or Rejected over that change, and the order lost. Only the
 * cards a report may change are locked (InProduction, Shipped): a Marked card of an old batch, which a
 * claim on MariaDB locks too, is not held for as long as a large report takes.
 */
export async function lockContracts(trx: Knex.Transaction, ids: number[]): Promise<Map<number, ReportedContract>> {
  const found = new Map<number, ReportedContract>();
  if (dialectOf(trx as unknown as Knex) === 'sqlite') return found;
  const unique = [...new Set(ids)].sort((a, b) => a - b);
  for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) {
    // in id order, as every writer of many cards should take them: fewer deadlocks
    const rows = await trx('card_contracts as c').whereIn('c.id', unique.slice(i, i + LOOKUP_CHUNK)).orderBy('c.id').select(...CONTRACT_COLUMNS).forUpdate();
    for (const r of rows) found.set(Number(r.id), toReported(r));
  }
  return found;
}

/**
 * The bureau each of these contracts (canonical numbers) was last sent to: its batch's bureau_code
 * (null: a batch from before migration 005, the first bureau's). Contracts never sent are left out.
 */
export async function bureausSentTo(trx: Knex.Transaction, contractNumbers: string[]): Promise<Map<string, string | null>> {
  const unique = [...new Set(contractNumbers)];
  const found = new Map<string, string | null>();
  for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) {
    const rows: Array<{ contract_number: string; bureau_code: string | null }> = await trx('card_contracts as c')
      .join('perso_batches as b', 'b.id', 'c.batch_id')
      .whereIn('c.contract_number', unique.slice(i, i + LOOKUP_CHUNK))
      .select('c.contract_number', 'b.bureau_code');
    for (const r of rows) found.set(r.contract_number, r.bureau_code ?? null);
  }
  return found;
}

/**
 * The ReportDate of the newest report that changed each of these contracts (ids), from their events;
 * contracts no report changed are left out. Asked only for cards a report already shipped (few).
 */
export async function lastReportDates(trx: Knex.Transaction, ids: number[]): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) {
    const rows: Array<{ contract_id: number | string; report_date: string | null }> = await trx('contract_events as e')
      .join('bureau_reports as r', 'r.id', 'e.source_id')
      .where('e.source_kind', 'report')
      .whereIn('e.contract_id', unique.slice(i, i + LOOKUP_CHUNK))
      .groupBy('e.contract_id')
      .select('e.contract_id', trx.raw('max(r.report_date) as report_date'));
    for (const r of rows) if (r.report_date) found.set(Number(r.contract_id), r.report_date);
  }
  return found;
}

/**
 * Whether `err` is the database ending our transaction to break a deadlock or a serialization
 * conflict (PostgreSQL 40P01, 40001; MariaDB 1213, ER_LOCK_DEADLOCK): nothing of it was written, and
 * the same work tried again succeeds once the other transaction has ended. A lock wait timeout is not
 * one: it already waited as long as we allow.
 */
export function isDeadlock(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown } | null;
  return e?.code === '40P01' || e?.code === '40001' || e?.code === 'ER_LOCK_DEADLOCK' || e?.errno === 1213;
}

export interface RejectionUpdate {
  id: number;
  code: string;
  reason: string;
}

export interface ShipmentUpdate {
  id: number;
  expectedShipDate: string | null;
  shipDate: string | null;
  courier: string | null;
  trackingNumber: string | null;
}

/** Sets contracts Rejected with the bureau's code and reason (ids must be distinct). */
export async function markRejected(trx: Knex.Transaction, updates: RejectionUpdate[], now = nowIso()): Promise<void> {
  await updateByCase(trx, updates, 'Rejected', { reject_code: (u) => u.code, reject_reason: (u) => u.reason }, now);
}

/** Sets contracts Shipped with expected and/or actual date, courier and tracking (ids must be distinct). */
export async function markShipped(trx: Knex.Transaction, updates: ShipmentUpdate[], now = nowIso()): Promise<void> {
  await updateByCase(trx, updates, 'Shipped', {
    expected_ship_date: (u) => u.expectedShipDate, ship_date: (u) => u.shipDate, courier: (u) => u.courier, tracking_number: (u) => u.trackingNumber,
  }, now);
}

/**
 * PostgreSQL: one `UPDATE … FROM unnest(arrays)` per 5,000 contracts (a handful of bound arrays).
 * SQLite and MariaDB: one `SET col = CASE id WHEN 1 THEN ? … END … WHERE id IN (1, …)` per 200
 * contracts. Ids are our own integers (checked); only values are bound.
 */
async function updateByCase<U extends { id: number }>(
  trx: Knex.Transaction, updates: U[], status: ProductionStatus, columns: Record<string, (u: U) => string | null>, now: string,
): Promise<void> {
  const names = Object.keys(columns);
  if (dialectOf(trx as unknown as Knex) === 'pg') {
    for (let i = 0; i < updates.length; i += 5000) {
      const chunk = updates.slice(i, i + 5000);
      const sets = names.map((name) => `${name} = v.${name}`).join(', ');
      const arrays = names.map(() => `?::text[]`).join(', ');
      await trx.raw(
        `UPDATE card_contracts SET production_status = ?, updated_at = ?, ${sets} FROM unnest(?::int[], ${arrays}) AS v(id, ${names.join(', ')}) WHERE card_contracts.id = v.id`,
        // arrays bind as PostgreSQL arrays (knex's RawBinding type does not list nullable arrays)
        [status, now, chunk.map((u) => u.id), ...names.map((name) => chunk.map((u) => columns[name]!(u)))] as unknown as Knex.RawBinding[],
      );
    }
    return;
  }
  for (let i = 0; i < updates.length; i += UPDATE_CHUNK) {
    const chunk = updates.slice(i, i + UPDATE_CHUNK);
    const ids = chunk.map((u) => {
      if (!Number.isSafeInteger(u.id)) throw new Error(`contract id ${u.id} is not an integer`);
      return u.id;
    });
    const bindings: Array<string | null> = [status, now];
    const sets = names.map((name) => {
      for (const u of chunk) bindings.push(columns[name]!(u));
      return `${name} = CASE id ${ids.map((id) => `WHEN ${id} THEN ?`).join(' ')} END`;
    });
    await trx.raw(`UPDATE card_contracts SET production_status = ?, updated_at = ?, ${sets.join(', ')} WHERE id IN (${ids.join(',')})`, bindings);
  }
}
