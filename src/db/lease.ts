import type { Knex } from 'knex';
import { nowIso } from './connection.js';

/** leases: who may run jobs against this database right now (one runner per name). */
export interface LeaseRow {
  /** what is leased, e.g. 'runner' */
  name: string;
  /** who holds it: host, pid and a random tag */
  owner: string;
  /** epoch milliseconds after which another runner may take it */
  expires_at: number;
  acquired_at: string;
}

/**
 * Takes the lease if it is free, expired, or already ours; returns whether we hold it now. Works on
 * every dialect (no advisory locks), so SQLite, PostgreSQL and MariaDB behave the same.
 */
export async function acquireLease(db: Knex, name: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
  try {
    return await db.transaction(async (trx) => {
      const row: LeaseRow | undefined = await trx('leases').where({ name }).first();
      const fields = { owner, expires_at: now + ttlMs, acquired_at: nowIso(() => new Date(now)) };
      if (!row) {
        await trx('leases').insert({ name, ...fields });
        return true;
      }
      if (row.owner !== owner && Number(row.expires_at) > now) return false;
      // compare-and-set on the row we read, so two runners seeing an expired lease cannot both win
      const updated = await trx('leases').where({ name, owner: row.owner, expires_at: row.expires_at })
        .update(row.owner === owner ? { expires_at: fields.expires_at } : fields);
      return updated === 1;
    });
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/** Extends our lease; false when it was lost (expired and taken by another runner). */
export async function renewLease(db: Knex, name: string, owner: string, ttlMs: number, now = Date.now()): Promise<boolean> {
  const updated = await db('leases').where({ name, owner }).andWhere('expires_at', '>', now).update({ expires_at: now + ttlMs });
  return updated === 1;
}

export async function releaseLease(db: Knex, name: string, owner: string): Promise<void> {
  await db('leases').where({ name, owner }).delete();
}

export async function leaseHolder(db: Knex, name: string): Promise<LeaseRow | undefined> {
  return db('leases').where({ name }).first();
}

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062;
}
