// perso_batches after the claim: states, the failure count, and the batch's cards in record order.
import type { Knex } from 'knex';
import type { ContractForPerso } from '../domain/contract.js';
import { PanIntegrityError, type PanCipher } from '../security/pan.js';
import { whereBureau, type BureauScope } from './bureau-scope.js';
import { dialectOf } from './connection.js';
import { renewalThrough, type LeaseRenewal } from './lease.js';
import { forgetUnmarked } from './marked.js';
import { PERSO_COLUMNS, toPerso, type PersoRow } from './perso-rows.js';

/** States of a batch, in the order the send job moves it (docs/design.md, "State machines"). */
export const BATCH_STATES = ['claimed', 'encrypted', 'uploaded', 'sent'] as const;
export type BatchState = (typeof BATCH_STATES)[number];

/** perso_batches: one personalization file, from the claim of its cards until the bureau has it. */
export interface BatchRow {
  id: number;
  /** the bureau the file is for; null on batches made before several bureaus: the first bureau's */
  bureau_code: string | null;
  /** YYYY-MM-DD the file is for */
  business_date: string;
  /** daily sequence from 1; with business_date unique, so a file name is never reused */
  sequence: number;
  /** remote file name, unique */
  file_name: string;
  state: BatchState;
  /** detail records (cards) in the file */
  record_count: number;
  /** sum of card contract ids modulo 10^15, as in the trailer */
  hash_total: string;
  /** SHA-256 (hex) and size of the clear file: never stored, only hashed in flight */
  clear_sha256: string | null;
  clear_size: number | string | null;
  /** SHA-256 (hex) and size of the encrypted file in the outbox and on the server */
  enc_sha256: string | null;
  enc_size: number | string | null;
  /** the encrypted file: in workDir/outbox until sent, then in workDir/archive */
  outbox_path: string | null;
  /** failed attempts to move the batch on */
  attempts: number;
  /** the last failure (PAN-safe) */
  last_error: string | null;
  /** also the creation time written in the header, so a re-render yields the same clear bytes */
  created_at: string;
  updated_at: string;
  sent_at: string | null;
  /** sent batches from migration 007 on: the highest contract_events id at the confirm (where its cards' event falls in their history) */
  events_before?: number | null;
}

/** A batch as the send job sees it. */
export interface Batch {
  id: number;
  /** null: a batch made before several bureaus, the first bureau's */
  bureauCode: string | null;
  businessDate: string;
  sequence: number;
  fileName: string;
  state: BatchState;
  recordCount: number;
  hashTotal: string;
  clearSha256: string | null;
  clearSize: number | null;
  encSha256: string | null;
  encSize: number | null;
  outboxPath: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

export function toBatch(row: BatchRow): Batch {
  const num = (v: number | string | null) => (v === null ? null : Number(v));
  return {
    id: Number(row.id), bureauCode: row.bureau_code ?? null, businessDate: row.business_date, sequence: Number(row.sequence), fileName: row.file_name,
    state: row.state, recordCount: Number(row.record_count), hashTotal: String(row.hash_total),
    clearSha256: row.clear_sha256, clearSize: num(row.clear_size), encSha256: row.enc_sha256, encSize: num(row.enc_size),
    outboxPath: row.outbox_path, attempts: Number(row.attempts), lastError: row.last_error, createdAt: row.created_at,
    sentAt: row.sent_at,
  };
}

/** What markEncrypted records about the file in the outbox. */
export interface EncryptedFile {
  clearSha256: string;
  clearSize: number;
  encSha256: string;
  encSize: number;
  outboxPath: string;
  recordCount: number;
  hashTotal: string;
}

/** claimed (or encrypted again) → encrypted: the outbox file with these hashes is the one to deliver. */
export async function markEncrypted(db: Knex, batchId: number, file: EncryptedFile, now: string): Promise<void> {
  await moveState(db, batchId, ['claimed', 'encrypted'], 'encrypted', {
    clear_sha256: file.clearSha256, clear_size: file.clearSize, enc_sha256: file.encSha256, enc_size: file.encSize,
    outbox_path: file.outboxPath, record_count: file.recordCount, hash_total: file.hashTotal, updated_at: now,
  });
}

/** encrypted → uploaded: the final remote name holds the file with the recorded size. */
export async function markUploaded(db: Knex, batchId: number, now: string): Promise<void> {
  await moveState(db, batchId, ['encrypted'], 'uploaded', { updated_at: now });
}

/** What the send job does inside the confirm's transaction. */
export interface ConfirmHooks {
  /**
   * renews the job's lease through this transaction as it starts, and marks it as the one the lease
   * keeper renews through while it lasts (SQLite's one connection is busy until it ends). Not again
   * before the commit: the moves are guarded by the batch's state, so a confirm that outlasted the
   * lease still commits rather than starting over.
   */
  renewLease?(within: LeaseRenewal): Promise<void>;
  /** a test's fault point, after every write and before the commit */
  beforeCommit?(): Promise<void> | void;
  /** told (inside the transaction) of the batch's cards that were no longer Marked at the confirm: LateCards */
  lateCards?(late: LateCards): void;
}

/** A card of the batch that someone else moved out of Marked after its claim (the card system writes the status itself). */
export interface LateCard {
  contractNumber: string;
  plasticId: string;
  /** the status it had at the confirm */
  status: string;
}

/**
 * The batch's cards no longer Marked at its confirm, the first LATE_LISTED of each kind listed: set
 * Invalid (now InProduction: the bureau has the file that holds them), and set to a status only the
 * bureau's reports give (left as written, for a person to look at).
 */
export interface LateCards {
  taken: LateCard[];
  takenCount: number;
  left: LateCard[];
  leftCount: number;
}

const LATE_LISTED = 20;

/**
 * uploaded → sent, in one transaction with its cards Marked → InProduction and their batch_id set (the
 * claim wrote only batch_items: each card's row is written once). The sent batch and its items are
 * the cards' event (no contract_events row per card: contract-story.ts tells it from them, placed
 * after the events_before-th event). `archivePath` is where the encrypted file is kept now.
 * `beforeCommit` runs after every write, before the commit (the crash tests stop the process there).
 */
export async function confirmBatch(
  db: Knex, batchId: number, archivePath: string | null, now: string, hooks: ConfirmHooks = {},
): Promise<number> {
  return db.transaction(async (trx) => {
    await hooks.renewLease?.(renewalThrough(trx));
    // the batch's ids fit in memory as one hash table: its join with the cards does not spill to disk
    if (dialectOf(trx) === 'pg') await trx.raw(`set local work_mem = '64MB'`);
    await moveState(trx, batchId, ['uploaded'], 'sent', {
      sent_at: now, updated_at: now, last_error: null, events_before: trx.raw('(select coalesce(max(id), 0) from contract_events)'), ...(archivePath ? { outbox_path: archivePath } : {}),
    });
    const moved = await moveToInProduction(trx, batchId, 'Marked', now);
    const { record_count: records } = await trx('perso_batches').where({ id: batchId }).first('record_count');
    // the usual case costs nothing more: every card of the batch was still Marked
    const late = moved < Number(records) ? await confirmLateCards(trx, batchId, now) : undefined;
    if (late) hooks.lateCards?.(late);
    await forgetUnmarked(trx);
    await hooks.beforeCommit?.();
    return moved + (late?.takenCount ?? 0);
  });
}

/**
 * The batch's cards in `status` become InProduction in it. One statement, whatever the batch size: no
 * per-card round trips, nothing held in memory; the batch's cards through batch_items
 * (card_contracts.batch_id has no index: migrations/002).
 */
async function moveToInProduction(trx: Knex.Transaction, batchId: number, status: 'Marked' | 'Invalid', now: string): Promise<number> {
  const cleared = status === 'Invalid' ? { reject_code: null, reject_reason: null } : {};
  const moved = await trx('card_contracts').where({ production_status: status })
    .whereIn('id', trx('batch_items').select('contract_id').where({ batch_id: batchId }))
    .update({ production_status: 'InProduction', batch_id: batchId, bureau_code: trx('perso_batches').select('bureau_code').where({ id: batchId }), updated_at: now, ...cleared });
  return Number(moved);
}

/**
 * Cards of the batch that were no longer Marked at its confirm: the card system (which writes the
 * status itself) moved them after the claim. They are in the file the bureau has all the same. One
 * set Invalid becomes InProduction in this batch: left Invalid, its marking again would send it a
 * second time. One set to a status only the bureau's reports give (InProduction, Rejected, Shipped) is
 * left as written: never claimed again unless marked again, and listed for a person.
 */
async function confirmLateCards(trx: Knex.Transaction, batchId: number, now: string): Promise<LateCards> {
  const lateQuery = () => trx('batch_items as bi').join('card_contracts as c', 'c.id', 'bi.contract_id').where('bi.batch_id', batchId)
    .andWhere((q) => q.whereNot('c.production_status', 'InProduction').orWhereNot('c.batch_id', batchId).orWhereNull('c.batch_id'));
  const listed = async (status?: string): Promise<LateCard[]> => {
    const query = lateQuery().orderBy('bi.record_number').limit(LATE_LISTED).select('c.contract_number', 'c.plastic_id', 'c.production_status');
    if (status) query.andWhere('c.production_status', status);
    const rows: Array<{ contract_number: string; plastic_id: string; production_status: string }> = await query;
    return rows.map((r) => ({ contractNumber: r.contract_number, plasticId: r.plastic_id, status: r.production_status }));
  };
  const taken = await listed('Invalid');
  const takenCount = await moveToInProduction(trx, batchId, 'Invalid', now);
  const left = await listed();
  const row = await lateQuery().count({ n: '*' }).first();
  return { taken, takenCount, left, leftCount: Number(row?.n ?? 0) };
}

/** Counts a failed attempt and keeps its (PAN-safe) message; the state is left as it was. */
export async function recordBatchFailure(db: Knex, batchId: number, message: string, now: string): Promise<void> {
  await db('perso_batches').where({ id: batchId })
    .update({ attempts: db.raw('attempts + 1'), last_error: message.slice(0, 2000), updated_at: now });
}

export class BatchStateError extends Error {
  override name = 'BatchStateError';
}

async function moveState(db: Knex | Knex.Transaction, batchId: number, from: BatchState[], to: BatchState, fields: Record<string, unknown>): Promise<void> {
  const updated = await db('perso_batches').where({ id: batchId }).whereIn('state', from).update({ ...fields, state: to });
  if (updated !== 1) {
    const row: BatchRow | undefined = await db('perso_batches').where({ id: batchId }).first();
    throw new BatchStateError(`batch ${batchId} cannot move to ${to}: it is ${row ? row.state : 'missing'}`);
  }
}

/**
 * Batches not yet sent, oldest first: the send job carries them forward before claiming anything new.
 * With a bureau, only that bureau's (each goes to its own bureau's server); without, every bureau's.
 */
export async function unfinishedBatches(db: Knex, bureau?: BureauScope): Promise<Batch[]> {
  const rows: BatchRow[] = await whereBureau(db('perso_batches').whereNot({ state: 'sent' }), bureau).orderBy('id');
  return rows.map(toBatch);
}

/**
 * Whether a batch for `businessDate` was sent at or after `since` (the scheduler's "already sent today"),
 * to the bureau given (each bureau catches up its own cut-off), else to any.
 */
export async function hasSentBatchSince(db: Knex, businessDate: string, since: Date, bureau?: BureauScope): Promise<boolean> {
  // sent_at is UTC ISO text on every dialect: text order is time order
  const row = await whereBureau(db('perso_batches').where({ business_date: businessDate, state: 'sent' }), bureau)
    .andWhere('sent_at', '>=', since.toISOString()).first('id');
  return row !== undefined;
}

export async function getBatch(db: Knex, batchId: number): Promise<Batch | undefined> {
  const row: BatchRow | undefined = await db('perso_batches').where({ id: batchId }).first();
  return row && toBatch(row);
}

/** The contracts of a batch in record order, a page at a time (bounded memory), PANs decrypted in memory. */
export async function* batchContracts(db: Knex, batchId: number, cipher: PanCipher, pageSize = 1000): AsyncGenerator<ContractForPerso> {
  let after = 0;
  for (;;) {
    const rows: Array<PersoRow & { record_number: number }> = await db('batch_items as bi')
      .join('card_contracts as c', 'c.id', 'bi.contract_id')
      .join('clients as cl', 'cl.id', 'c.client_id')
      .select([...PERSO_COLUMNS, 'bi.record_number'])
      .where('bi.batch_id', batchId)
      .andWhere('bi.record_number', '>', after)
      .orderBy('bi.record_number')
      .limit(pageSize);
    if (!rows.length) return;
    after = Number(rows[rows.length - 1]!.record_number);
    for (const row of rows) yield claimedPerso(row, cipher);
  }
}

/**
 * A claimed card whose stored PAN is no longer its own (changed after the claim) cannot be set aside
 * from a file whose records are counted: the batch fails, naming the card, and is never sent so.
 */
function claimedPerso(row: PersoRow, cipher: PanCipher): ContractForPerso {
  try {
    return toPerso(row, cipher);
  } catch (err) {
    if (!(err instanceof PanIntegrityError)) throw err;
    throw new PanIntegrityError(`claimed contract ${row.contract_number} plastic ${row.plastic_id}: ${err.message}`);
  }
}
