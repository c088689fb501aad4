import type { Knex } from 'knex';
import { dialectOf, nowIso } from './connection.js';

/** leases: who may run jobs against this database right now (one runner per name). */
export interface LeaseRow {
  /** what is leased, e.g. 'daemon' */
  name: string;
  /** who holds it: host, pid and a random tag */
  owner: string;
  /** epoch milliseconds, on the database's clock, after which another runner may take it */
  expires_at: number;
  /** when the holder took it (host clock: shown to operators, never compared) */
  acquired_at: string;
}

/**
 * The database's own clock in epoch milliseconds, as SQL. Every expiry is written and compared with
 * it, never with a host's clock: two hosts whose clocks disagree still agree on whether a lease is
 * live. PostgreSQL: clock_timestamp(), not now(), which stands still for a whole transaction (a claim
 * renews inside a long one). MariaDB: UTC arithmetic, free of the session's time zone. SQLite's clock
 * is the host's, which is enough: an SQLite file is used from one host only.
 */
function databaseNowMs(db: Knex): Knex.Raw {
  switch (dialectOf(db)) {
    case 'pg':
      return db.raw('(extract(epoch from clock_timestamp()) * 1000)::bigint');
    case 'mysql':
      return db.raw("(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6)) DIV 1000)");
    default:
      return db.raw("CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)");
  }
}

/**
 * A lease statement through the pool waits no longer than `ms` for its answer. A database that
 * failed over behind the same address can leave every pooled connection half-open and silent: a
 * statement on one waited until TCP gave up (a quarter of an hour, or never behind a proxy), and the
 * keeper's loop with it, so a runner whose lease was lost never took it again. knex drops a
 * connection whose statement ran out of time from the pool: the next statement gets a new one.
 * Inside a transaction the transaction's own connection is used as it is.
 */
function bounded<T extends Knex.QueryBuilder>(db: Knex, query: T, ms: number | undefined): T {
  return db.isTransaction || ms === undefined ? query : (query.timeout(Math.max(1, Math.round(ms))) as T);
}

const expiryIn = (db: Knex, ttlMs: number) => db.raw(`(${databaseNowMs(db).toQuery()} + ?)`, [Math.round(ttlMs)]);

/**
 * Takes the lease if it is free, expired, or already ours; returns whether we hold it now (through
 * the pool, each statement waits at most the TTL: bounded). One
 * conditional update (the row's lock makes two runners seeing an expired lease take turns, and the
 * second finds it live), else an insert (the primary key lets one of two racing runners in). Works
 * on every dialect (no advisory locks), so SQLite, PostgreSQL and MariaDB behave the same.
 */
export async function acquireLease(db: Knex, name: string, owner: string, ttlMs: number): Promise<boolean> {
  const at = nowIso();
  const updated = await bounded(db, db('leases')
    .where({ name })
    .andWhere((q) => q.where({ owner }).orWhere('expires_at', '<=', databaseNowMs(db)))
    // acquired_at first: MariaDB evaluates each assignment with the ones before it applied
    .update({ acquired_at: db.raw('CASE WHEN owner = ? THEN acquired_at ELSE ? END', [owner, at]), owner, expires_at: expiryIn(db, ttlMs) }), ttlMs);
  if (updated === 1) return true;
  try {
    await bounded(db, db('leases').insert({ name, owner, expires_at: expiryIn(db, ttlMs), acquired_at: at }), ttlMs);
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/** Extends our lease; false when it was lost (expired and taken by another runner). Through the pool, waits at most the TTL (bounded). */
export async function renewLease(db: Knex, name: string, owner: string, ttlMs: number): Promise<boolean> {
  const updated = await bounded(db, db('leases').where({ name, owner }).andWhere('expires_at', '>', databaseNowMs(db))
    .update({ expires_at: expiryIn(db, ttlMs) }), ttlMs);
  return updated === 1;
}

/** Gives the lease back; `timeoutMs`: how long to wait for the answer through the pool (bounded). */
export async function releaseLease(db: Knex, name: string, owner: string, timeoutMs?: number): Promise<void> {
  await bounded(db, db('leases').where({ name, owner }).delete(), timeoutMs);
}

/** The lease's row; `timeoutMs`: how long to wait for the answer through the pool (bounded). */
export async function leaseHolder(db: Knex, name: string, timeoutMs?: number): Promise<LeaseRow | undefined> {
  return bounded(db, db('leases').where({ name }), timeoutMs).first();
}

/** Who holds the lease now by the database's clock, or null when nobody does (free or expired). */
export async function liveLeaseHolder(db: Knex, name: string): Promise<string | null> {
  const row = await db('leases').where({ name }).andWhere('expires_at', '>', databaseNowMs(db)).first('owner');
  return row?.owner ?? null;
}

/** A way to extend a lease: through the pool, or inside a transaction that holds the connection (a claim, a confirm). */
export interface LeaseRenewal {
  /** renewLease through this way: false when the lease was lost */
  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
}

/** renewLease through `db` (the pool or a transaction). */
export function renewalThrough(db: Knex): LeaseRenewal {
  return { renewLease: (name, owner, ttlMs) => renewLease(db, name, owner, ttlMs) };
}

/**
 * Holds a row of leases that lives only inside the transaction `trx` (inserted here, deleted by
 * leaveMutex before the commit): a second transaction's insert of the same name waits on the
 * first's until it ends, so such transactions run one at a time, whoever runs them.
 */
export async function enterMutex(trx: Knex.Transaction, name: string): Promise<void> {
  await trx('leases').insert({ name, owner: 'mutex', expires_at: 0, acquired_at: nowIso() });
}

export async function leaveMutex(trx: Knex.Transaction, name: string): Promise<void> {
  await trx('leases').where({ name }).delete();
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062;
}
