// How the claim reads Marked contracts and writes its items on each database, and the unlocked read of the dry run.
import type { Knex } from 'knex';
import { dialectOf, type Dialect } from './connection.js';
import { markedContracts, markedContractsSql } from './marked.js';
import { NOT_IN_UNSENT_BATCH } from './unsent-batch.js';
import {
  PAGE_PART_ROWS, PERSO_COLUMNS, PERSO_COLUMNS_AS_NAMES, persoPageOf, persoPageOfJson, persoPartSqliteSql, persoRowJsonSql, type PersoPage, type PersoRow,
} from './perso-rows.js';

/** Contracts per page through knex. */
const PAGE = 500;

/** How the claim reads Marked contracts and writes a page of items, on the transaction's connection. */
export interface ClaimStore {
  pageSize: number;
  readPage(afterId: number, limit: number): Promise<PersoPage> | PersoPage;
  /** record numbers continue after `before`, in the order of `contractIds` */
  addItems(batchId: number, before: number, contractIds: number[]): Promise<void> | void;
}

export async function claimStore(trx: Knex.Transaction): Promise<ClaimStore> {
  // on SQLite the transaction's own (only) connection, through prepared statements: knex costs several times more per row
  return (await sqliteClaimStore(trx)) ?? (await pgClaimStore(trx)) ?? {
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
  const marked = markedContractsSql('sqlite');
  const partStmt = conn.prepare(persoPartSqliteSql(markedPageSql('sqlite', await anyUnsentBatch(trx))));
  // a page of ids as one JSON array per statement (json_each keeps the array's order): a third cheaper than a statement per card
  const insertItems = conn.prepare('insert into batch_items (batch_id, record_number, contract_id) select ?, ? + key + 1, value from json_each(?)');
  return {
    pageSize: SQLITE_PAGE,
    readPage(afterId, limit) {
      const page: PersoPage = { parts: [], count: 0, lastId: afterId };
      while (page.count < limit) {
        const part = partStmt.get(...marked.after(page.lastId), Math.min(PAGE_PART_ROWS, limit - page.count)) as { json: string; count: number; lastId: number };
        if (!part.count) break;
        page.parts.push(part.json);
        page.count += part.count;
        page.lastId = part.lastId;
      }
      return page;
    },
    addItems(batchId, before, contractIds) {
      insertItems.run(batchId, before, JSON.stringify(contractIds));
    },
  };
}

/**
 * On PostgreSQL, the page's JSON made by the server and locked as the claim reads it (skipping rows
 * another claim holds), and a page of items written with one statement of an array.
 */
async function pgClaimStore(trx: Knex.Transaction): Promise<ClaimStore | undefined> {
  if (dialectOf(trx) !== 'pg') return undefined;
  // The planner guesses how many contracts NOT_IN_UNSENT_BATCH keeps: that guess puts a page's
  // estimated cost above jit_above_cost, and compiling each page's query would cost more than running it.
  await trx.raw('set local jit = off');
  const pageSql = persoRowJsonSql(`${markedPageSql('pg', await anyUnsentBatch(trx))} for update of c skip locked`);
  const marked = markedContractsSql('pg');
  return {
    pageSize: PG_PAGE,
    readPage: async (afterId, limit) => {
      const { rows } = await trx.raw(pageSql, [...marked.after(afterId), limit]);
      return persoPageOfJson(rows.map((row: { json: string }) => row.json));
    },
    addItems: async (batchId, before, contractIds) => {
      await trx.raw(
        'insert into batch_items (batch_id, record_number, contract_id) select ?, ? + u.n, u.id from unnest(?::int[]) with ordinality as u(id, n)',
        // as an array literal: knex would expand a JavaScript array into a list of parameters
        [batchId, before, `{${contractIds.join(',')}}`],
      );
    },
  };
}

/**
 * Contracts per page on PostgreSQL: each page is a statement planned anew (about 2 ms, whatever its
 * size) and a round trip; 2000 cards are about 1 MB of JSON.
 */
const PG_PAGE = 2000;

/**
 * Marked contracts free to claim after an id (the first parameters: markedContractsSql), in id order,
 * at most a number of them (the last): the statement SQLite's and PostgreSQL's claims wrap in
 * persoPartSqliteSql and persoRowJsonSql; markedQuery is the same. `unsentBatches`: whether a batch not
 * yet sent may hold some of them.
 */
function markedPageSql(dialect: Dialect, unsentBatches: boolean): string {
  const marked = markedContractsSql(dialect);
  return `select ${PERSO_COLUMNS_AS_NAMES.join(', ')}
  from ${marked.from} inner join clients as cl on cl.id = c.client_id
  where ${marked.where}${unsentBatches ? ` and ${NOT_IN_UNSENT_BATCH}` : ''} order by c.id limit ?`;
}

/**
 * Whether a batch not yet sent exists as the claim starts (inside its transaction, after its mutex).
 * When none does, no card can be held by one, and the pages skip the look-up per card: claims run one
 * at a time, so no other batch appears before this claim ends, and this claim reads each card once (in
 * id order), never one of its own items. Usually none does: a send carries its unsent batches forward
 * before it claims.
 */
async function anyUnsentBatch(trx: Knex.Transaction): Promise<boolean> {
  return (await trx('perso_batches').whereNot({ state: 'sent' }).first('id')) !== undefined;
}

/** A page of Marked contracts free to claim after `afterId`; on MariaDB locked. */
function lockedMarkedPage(trx: Knex.Transaction, afterId: number, limit: number): Promise<PersoRow[]> {
  const query = markedQuery(trx, afterId, limit);
  if (dialectOf(trx) === 'mysql') query.forUpdate();
  return query;
}

/** markedPageSql(true) through knex (rows as objects on every dialect): MariaDB's claim and the dry run read with it. */
function markedQuery(db: Knex | Knex.Transaction, afterId: number, limit: number) {
  return markedContracts(db, afterId)
    .join('clients as cl', 'cl.id', 'c.client_id')
    .select(PERSO_COLUMNS)
    .whereRaw(NOT_IN_UNSENT_BATCH)
    .orderBy('c.id')
    .limit(limit);
}

/** Record numbers continue after `before`, in the order of `contractIds`. */
async function addItems(trx: Knex.Transaction, batchId: number, before: number, contractIds: number[]): Promise<void> {
  const items = contractIds.map((contractId, i) => ({ batch_id: batchId, record_number: before + i + 1, contract_id: contractId }));
  for (let i = 0; i < items.length; i += PAGE) await trx('batch_items').insert(items.slice(i, i + PAGE));
}


/** Marked contracts free to claim, in claim order, a page at a time, without locking (dry run); PANs still encrypted. */
export async function* markedPages(db: Knex, pageSize = 1000): AsyncGenerator<PersoPage> {
  let after = 0;
  for (;;) {
    const rows: PersoRow[] = await markedQuery(db, after, pageSize);
    if (!rows.length) return;
    after = Number(rows[rows.length - 1]!.id);
    yield persoPageOf(rows);
  }
}
