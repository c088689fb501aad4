import type { Knex } from 'knex';
import type { ContractForPerso } from '../domain/contract.js';
import type { PanCipher } from '../security/pan.js';
import { dialectOf, insertReturningId } from './connection.js';
import { recordEvents, type NewEvent } from './events.js';
import {
  PAGE_PART_ROWS, PERSO_COLUMNS, PERSO_COLUMNS_AS_NAMES, persoPageOf, persoPageOfJson, persoPartSqliteSql, persoRowJsonSql, toPerso, type PersoPage, type PersoRow,
} from './perso-rows.js';

/** States of a batch, in the order the send job moves it (DESIGN.md, "The send job as a state machine"). */
export const BATCH_STATES = ['claimed', 'encrypted', 'uploaded', 'sent'] as const;
export type BatchState = (typeof BATCH_STATES)[number];

/** perso_batches: one personalization file, from the claim of its cards until the bureau has it. */
export interface BatchRow {
  id: number;
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
}

/** A batch as the send job sees it. */
export interface Batch {
  id: number;
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
    id: Number(row.id), businessDate: row.business_date, sequence: Number(row.sequence), fileName: row.file_name,
    state: row.state, recordCount: Number(row.record_count), hashTotal: String(row.hash_total),
    clearSha256: row.clear_sha256, clearSize: num(row.clear_size), encSha256: row.enc_sha256, encSize: num(row.enc_size),
    outboxPath: row.outbox_path, attempts: Number(row.attempts), lastError: row.last_error, createdAt: row.created_at,
    sentAt: row.sent_at,
  };
}

/** Our own verdict on a page of contracts (ClaimParams.screen). */
export interface PageVerdict {
  /** the valid contracts' ids, in page order: they get the batch's next record numbers */
  validIds: number[];
  /** the sum of their contract numbers, decimal (the trailer's hash total adds these up) */
  contractNumberSum: string;
  /** the others, each with its reason naming the field */
  invalid: InvalidCard[];
}

/** A card set aside as Invalid, as reported to the operator. */
export interface InvalidCard {
  contractId: number;
  contractNumber: string;
  plasticId: string;
  reason: string;
}

export interface ClaimParams {
  businessDate: string;
  maxCards: number;
  /** the file name of the batch with this daily sequence */
  fileName(sequence: number): string;
  /**
   * Our own verdict on the contracts of a page (PANs still encrypted in the page). The next pages are
   * read and handed over before this one's verdict is awaited, so the screening (on a worker thread in
   * the send job) runs beside the claim's own reads and writes.
   */
  screen(page: PersoPage): Promise<PageVerdict>;
  now: string;
  /** how many contracts are read per page (bounded memory) */
  pageSize?: number;
  /** called in the transaction before each page (the job renews its lease there) */
  beforePage?(trx: Knex.Transaction): Promise<void>;
  /**
   * Told, page by page while the transaction is open, how many valid cards were just given their record
   * numbers (the next ones of the batch, in the order `screen` saw them): the job renders and encrypts
   * them on the way, one read of each card instead of two. The claim waits for it (after claiming the
   * next page), and fails (rolls back) when it fails.
   */
  onClaimed?(batch: ClaimedBatch, validCards: number): Promise<void>;
}

/** What a new batch is known by while its claim is still open. */
export interface ClaimedBatch {
  id: number;
  sequence: number;
  fileName: string;
  createdAt: string;
}

export interface ClaimOutcome {
  /** null when no valid card was waiting */
  batch: Batch | null;
  /** contracts set Invalid by this claim */
  invalid: InvalidCard[];
  /** all contracts set Invalid by this claim (`invalid` lists the first INVALID_LISTED of them) */
  invalidCount: number;
}

const PAGE = 500;
/** Invalid cards listed in a claim's outcome (memory stays bounded even if every card is invalid). */
export const INVALID_LISTED = 1000;

/** A page read by the claim, its screening under way. */
interface OpenPage {
  page: PersoPage;
  verdict: Promise<PageVerdict>;
}

/**
 * Pages read and handed to the screening ahead of the one being claimed: the screening thread has the
 * next pages at hand while the claim writes, instead of the two threads taking turns. Each costs a
 * page of contracts in memory.
 */
const PAGES_AHEAD = 2;

/**
 * One transaction: takes up to `maxCards` valid Marked contracts without a batch (stable order by id,
 * row-locked with SKIP LOCKED on PostgreSQL), creates the batch with the next daily sequence and fixes
 * each card's record number 1..n; invalid ones met on the way become Invalid with their reason. Either
 * all of it is committed or none of it.
 *
 * Every statement goes through one queue, in order, one at a time on the transaction's connection,
 * without the loop waiting for the writes: the database works while the next pages are screened (pages
 * are by id, so the next one does not depend on this one's writes). All are awaited before the end,
 * and the first failure fails the claim.
 */
export async function claimBatch(db: Knex, params: ClaimParams): Promise<ClaimOutcome> {
  return db.transaction(async (trx) => {
    const store = await claimStore(trx);
    const queue = new StatementQueue();
    const pageSize = params.pageSize ?? store.pageSize;
    const invalid: InvalidCard[] = [];
    let invalidCount = 0;
    let batch: ClaimedBatch | null = null;
    let count = 0;
    let hashTotal = 0n;
    const ahead: OpenPage[] = [];
    let lastRead = 0;
    let exhausted = false;
    // onClaimed of the page before: awaited a page late, so the claim does not wait for each answer
    let previousTold: Promise<void> = Promise.resolve();

    const openPage = async (limit: number): Promise<void> => {
      queue.throwIfFailed();
      // queued together, ahead of the current page's writes: the read does not wait for them
      if (params.beforePage) queue.add(() => params.beforePage!(trx)).catch(() => undefined); // its failure fails the read
      const page = await queue.add(async () => store.readPage(lastRead, limit));
      if (page.count < limit) exhausted = true;
      if (!page.count) return;
      lastRead = page.lastId;
      const verdict = params.screen(page);
      verdict.catch(() => undefined); // awaited when the page is claimed
      ahead.push({ page, verdict });
    };

    // never more contracts read than could still be claimed if all those read are valid
    const readAhead = async (): Promise<void> => {
      while (!exhausted && ahead.length < PAGES_AHEAD) {
        const room = params.maxCards - count - ahead.reduce((n, open) => n + open.page.count, 0);
        if (room <= 0) return;
        await openPage(Math.min(pageSize, room));
      }
    };

    const claimPage = async (page: PersoPage, verdict: PageVerdict): Promise<void> => {
      const valid = verdict.validIds;
      if (valid.length + verdict.invalid.length !== page.count) {
        throw new Error(`screening judged ${valid.length + verdict.invalid.length} contracts of a page of ${page.count}`);
      }
      invalid.push(...verdict.invalid.slice(0, Math.max(0, INVALID_LISTED - invalid.length)));
      invalidCount += verdict.invalid.length;
      if (valid.length) batch ??= await queue.add(() => insertBatch(trx, params));
      const before = count;
      queue.add(async () => {
        await markInvalid(trx, verdict.invalid, params.now);
        if (valid.length) await store.addItems(batch!.id, before, valid);
      }).catch(() => undefined); // rethrown by throwIfFailed() / drained()
      count += valid.length;
      hashTotal += BigInt(verdict.contractNumberSum);
      if (!valid.length || !params.onClaimed) return;
      const told = params.onClaimed(batch!, valid.length);
      told.catch(() => undefined); // awaited after the next page, or at the end
      await previousTold;
      previousTold = told;
    };

    await readAhead();
    while (ahead.length) {
      const { page, verdict } = ahead.shift()!;
      await claimPage(page, await verdict);
      await readAhead();
    }
    await previousTold;
    await queue.drained();
    if (batch === null) return { batch: null, invalid, invalidCount };
    const claimed: ClaimedBatch = batch;
    await trx('perso_batches').where({ id: claimed.id })
      .update({ record_count: count, hash_total: (hashTotal % 10n ** 15n).toString(), updated_at: params.now });
    return { batch: toBatch(await trx('perso_batches').where({ id: claimed.id }).first()), invalid, invalidCount };
  });
}

/**
 * Statements of one transaction run one at a time in the order they were added, without the caller
 * waiting for each (the pg driver's own queueing of concurrent queries is deprecated). The first
 * failure is kept: `drained` and `throwIfFailed` rethrow it, so the root cause wins over the errors of
 * the statements that came after it on an aborted transaction.
 */
class StatementQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private failure: { err: unknown } | undefined;

  add<T>(statement: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (this.failure) throw this.failure.err;
      return statement();
    });
    this.tail = run.catch((err) => {
      this.failure ??= { err };
    });
    return run.catch((err) => {
      throw this.failure?.err ?? err;
    });
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }

  async drained(): Promise<void> {
    await this.tail;
    this.throwIfFailed();
  }
}

/** How the claim reads Marked contracts and writes a page of items, on the transaction's connection. */
interface ClaimStore {
  pageSize: number;
  readPage(afterId: number, limit: number): Promise<PersoPage> | PersoPage;
  /** record numbers continue after `before`, in the order of `contractIds`; each contract gets the batch id */
  addItems(batchId: number, before: number, contractIds: number[]): Promise<void> | void;
}

async function claimStore(trx: Knex.Transaction): Promise<ClaimStore> {
  // on SQLite the transaction's own (only) connection, through prepared statements: knex costs several times more per row
  return (await sqliteClaimStore(trx)) ?? pgClaimStore(trx) ?? {
    pageSize: PAGE,
    readPage: async (afterId, limit) => persoPageOf(await lockedMarkedPage(trx, afterId, limit)),
    addItems: (batchId, before, contractIds) => addItems(trx, batchId, before, contractIds),
  };
}

/** The subset of a better-sqlite3 connection (and of its statements) the claim uses. */
interface SqliteStatement {
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): unknown;
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  inTransaction: boolean;
}

/** Contracts per page on SQLite's direct path (PAGES_AHEAD + 1 pages of contracts and prepared cards are in memory at a time). */
const SQLITE_PAGE = 500;

/**
 * On SQLite (better-sqlite3), the claim's queries as prepared statements on the transaction's own
 * connection (SQLite has one; a statement through another would wait for this transaction), in the
 * same transaction: the same rows read and written as through knex, at a fraction of the cost per
 * row. Undefined on other databases.
 */
async function sqliteClaimStore(trx: Knex.Transaction): Promise<ClaimStore | undefined> {
  if (dialectOf(trx) !== 'sqlite') return undefined;
  const conn = (await trx.client.acquireConnection()) as Partial<SqliteConnection> | null;
  if (!conn || typeof conn.prepare !== 'function' || conn.inTransaction !== true) return undefined;
  const partStmt = conn.prepare(persoPartSqliteSql(MARKED_PAGE_SQL));
  // a page of ids as one JSON array per statement (json_each keeps the array's order): a third cheaper than a statement per card
  const insertItems = conn.prepare('insert into batch_items (batch_id, record_number, contract_id) select ?, ? + key + 1, value from json_each(?)');
  const setBatch = conn.prepare('update card_contracts set batch_id = ? where id in (select value from json_each(?))');
  return {
    pageSize: SQLITE_PAGE,
    readPage(afterId, limit) {
      const page: PersoPage = { parts: [], count: 0, lastId: afterId };
      while (page.count < limit) {
        const part = partStmt.get(page.lastId, Math.min(PAGE_PART_ROWS, limit - page.count)) as { json: string; count: number; lastId: number };
        if (!part.count) break;
        page.parts.push(part.json);
        page.count += part.count;
        page.lastId = part.lastId;
      }
      return page;
    },
    addItems(batchId, before, contractIds) {
      const ids = JSON.stringify(contractIds);
      insertItems.run(batchId, before, ids);
      setBatch.run(batchId, ids);
    },
  };
}

/**
 * On PostgreSQL, the page's JSON made by the server and locked as the claim reads it (skipping rows
 * another claim holds), and a page of items written with two statements of arrays.
 */
function pgClaimStore(trx: Knex.Transaction): ClaimStore | undefined {
  if (dialectOf(trx) !== 'pg') return undefined;
  return {
    pageSize: PAGE,
    readPage: async (afterId, limit) => {
      const { rows } = await trx.raw(persoRowJsonSql(`${MARKED_PAGE_SQL} for update of c skip locked`), [afterId, limit]);
      return persoPageOfJson(rows.map((row: { json: string }) => row.json));
    },
    addItems: async (batchId, before, contractIds) => {
      // as an array literal: knex would expand a JavaScript array into a list of parameters
      const ids = `{${contractIds.join(',')}}`;
      await trx.raw(
        'insert into batch_items (batch_id, record_number, contract_id) select ?, ? + u.n, u.id from unnest(?::int[]) with ordinality as u(id, n)',
        [batchId, before, ids],
      );
      await trx.raw('update card_contracts set batch_id = ? where id = any(?::int[])', [batchId, ids]);
    },
  };
}

/**
 * Marked contracts without a batch after an id (first parameter), in id order, at most a number of them
 * (second): the statement SQLite's and PostgreSQL's claims wrap in persoPartSqliteSql and persoRowJsonSql;
 * markedQuery is the same.
 */
const MARKED_PAGE_SQL = `select ${PERSO_COLUMNS_AS_NAMES.join(', ')}
  from card_contracts as c inner join clients as cl on cl.id = c.client_id
  where c.production_status = 'Marked' and c.batch_id is null and c.id > ? order by c.id limit ?`;

/** A page of Marked contracts without a batch after `afterId`; on MariaDB locked. */
function lockedMarkedPage(trx: Knex.Transaction, afterId: number, limit: number): Promise<PersoRow[]> {
  const query = markedQuery(trx, afterId, limit);
  if (dialectOf(trx) === 'mysql') query.forUpdate();
  return query;
}

/** MARKED_PAGE_SQL through knex (rows as objects on every dialect): MariaDB's claim and the dry run read with it. */
function markedQuery(db: Knex | Knex.Transaction, afterId: number, limit: number) {
  return db('card_contracts as c')
    .join('clients as cl', 'cl.id', 'c.client_id')
    .select(PERSO_COLUMNS)
    .where({ 'c.production_status': 'Marked' })
    .whereNull('c.batch_id')
    .andWhere('c.id', '>', afterId)
    .orderBy('c.id')
    .limit(limit);
}

async function insertBatch(trx: Knex.Transaction, params: ClaimParams): Promise<ClaimedBatch> {
  const sequence = await nextSequence(trx, params.businessDate);
  const fileName = params.fileName(sequence);
  const id = await insertReturningId(trx, 'perso_batches', {
    business_date: params.businessDate, sequence, file_name: fileName, state: 'claimed',
    record_count: 0, hash_total: '0', attempts: 0, created_at: params.now, updated_at: params.now,
  });
  return { id, sequence, fileName, createdAt: params.now };
}

/** The next daily sequence of a business date (1 for the first file of the day). */
export async function nextSequence(db: Knex | Knex.Transaction, businessDate: string): Promise<number> {
  const row = await db('perso_batches').where({ business_date: businessDate }).max({ max: 'sequence' }).first();
  return Number(row?.max ?? 0) + 1;
}

/** Record numbers continue after `before`, in the order of `contractIds`. */
async function addItems(trx: Knex.Transaction, batchId: number, before: number, contractIds: number[]): Promise<void> {
  const items = contractIds.map((contractId, i) => ({ batch_id: batchId, record_number: before + i + 1, contract_id: contractId }));
  for (let i = 0; i < items.length; i += PAGE) await trx('batch_items').insert(items.slice(i, i + PAGE));
  for (let i = 0; i < contractIds.length; i += PAGE) {
    await trx('card_contracts').whereIn('id', contractIds.slice(i, i + PAGE)).update({ batch_id: batchId });
  }
}

/** In the caller's transaction: the cards become Invalid (reject code INVALID, reason kept), with events. */
export async function markInvalid(trx: Knex.Transaction, cards: InvalidCard[], now: string): Promise<void> {
  for (const card of cards) {
    await trx('card_contracts').where({ id: card.contractId, production_status: 'Marked' })
      .update({ production_status: 'Invalid', reject_code: 'INVALID', reject_reason: card.reason, updated_at: now });
  }
  const events: NewEvent[] = cards.map((c) => ({
    contract_id: c.contractId, from_status: 'Marked', to_status: 'Invalid', source_kind: 'validation', source_id: null, detail: c.reason,
  }));
  await recordEvents(trx, events, now);
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

/**
 * uploaded → sent, in one transaction with its cards Marked → InProduction and one event per card;
 * `archivePath` is where the encrypted file is kept now.
 */
export async function confirmBatch(db: Knex, batchId: number, archivePath: string | null, now: string): Promise<number> {
  return db.transaction(async (trx) => {
    await moveState(trx, batchId, ['uploaded'], 'sent', { sent_at: now, updated_at: now, last_error: null, ...(archivePath ? { outbox_path: archivePath } : {}) });
    // one statement each, whatever the batch size: no per-card round trips, nothing held in memory;
    // the batch's cards through batch_items (card_contracts.batch_id has no index: migrations/002)
    await trx.raw(
      `insert into contract_events (contract_id, from_status, to_status, source_kind, source_id, detail, created_at)
       select c.id, 'Marked', 'InProduction', 'batch', ?, null, ?
       from batch_items as bi inner join card_contracts as c on c.id = bi.contract_id
       where bi.batch_id = ? and c.production_status = 'Marked'`,
      [batchId, now, batchId],
    );
    const moved = await trx('card_contracts').where({ production_status: 'Marked' })
      .whereIn('id', trx('batch_items').select('contract_id').where({ batch_id: batchId }))
      .update({ production_status: 'InProduction', updated_at: now });
    return Number(moved);
  });
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

/** Batches not yet sent, oldest first: the send job carries them forward before claiming anything new. */
export async function unfinishedBatches(db: Knex): Promise<Batch[]> {
  const rows: BatchRow[] = await db('perso_batches').whereNot({ state: 'sent' }).orderBy('id');
  return rows.map(toBatch);
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
    for (const row of rows) yield toPerso(row, cipher);
  }
}

/** Marked contracts without a batch, in claim order, a page at a time, without locking (dry run); PANs still encrypted. */
export async function* markedPages(db: Knex, pageSize = 1000): AsyncGenerator<PersoPage> {
  let after = 0;
  for (;;) {
    const rows: PersoRow[] = await markedQuery(db, after, pageSize);
    if (!rows.length) return;
    after = Number(rows[rows.length - 1]!.id);
    yield persoPageOf(rows);
  }
}
