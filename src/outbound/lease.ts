import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { acquireLease, leaseHolder, releaseLease, renewLease } from '../db/lease.js';
import { TransientError } from '../errors.js';
import type { Logger } from '../log.js';

export const SEND_LEASE = 'send';

/** The send lease, held for one run and renewed in the background while the run lasts. */
export interface HeldLease {
  /** throws once the lease was lost (another runner may have taken over): stop before the next state change */
  assertHeld(): void;
  /**
   * Renews through the caller's transaction when due: a long transaction (a big claim) holds SQLite's
   * only connection, so the background renewal cannot run meanwhile. Throws when the lease is lost.
   */
  renewWithin(trx: Knex.Transaction): Promise<void>;
  /** Runs `fn` (a transaction renewing through renewWithin) with the background renewal paused. */
  duringTransaction<T>(fn: () => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

/** Takes the lease or throws a TransientError naming the runner that holds it. */
export async function holdLease(db: Knex, ttlMs: number, log: Logger, name = SEND_LEASE): Promise<HeldLease> {
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  if (!(await acquireLease(db, name, owner, ttlMs))) {
    const holder = await leaseHolder(db, name);
    const until = holder ? new Date(Number(holder.expires_at)).toISOString() : 'now';
    throw new TransientError(`another runner holds the ${name} lease (${holder?.owner ?? 'unknown'}, until ${until})`);
  }
  let lost = false;
  let heldUntil = Date.now() + ttlMs;
  let renewedAt = Date.now();
  let renewing = false;
  let transactions = 0;
  const renewed = (held: boolean, at: number) => {
    if (!held && !lost) log.error({ lease: name }, 'lease lost: stopping at the next checkpoint');
    lost ||= !held;
    if (held) {
      heldUntil = Math.max(heldUntil, at + ttlMs);
      renewedAt = Math.max(renewedAt, at);
    }
  };
  const timer = setInterval(() => {
    // during a transaction that renews the lease itself, a renewal from outside would wait for its
    // row lock (PostgreSQL) or connection (SQLite) and then write an expiry computed minutes earlier
    if (renewing || transactions > 0) return;
    renewing = true;
    const now = Date.now();
    renewLease(db, name, owner, ttlMs, now).then((held) => renewed(held, now), (err) => log.warn({ lease: name, err: String(err) }, 'lease renewal failed; retrying'))
      .finally(() => (renewing = false));
  }, Math.max(1000, Math.floor(ttlMs / 3)));
  timer.unref();
  const assertHeld = () => {
    // a renewal that kept failing (database unreachable) counts as lost once the lease ran out
    if (lost || Date.now() > heldUntil) throw new TransientError(`the ${name} lease was lost; another runner may continue`);
  };
  return {
    assertHeld,
    async duringTransaction(fn) {
      transactions++;
      try {
        return await fn();
      } finally {
        transactions--;
      }
    },
    async renewWithin(trx) {
      assertHeld();
      const now = Date.now();
      if (now - renewedAt < ttlMs / 3) return;
      renewed(await renewLease(trx, name, owner, ttlMs, now), now);
      assertHeld();
    },
    async release() {
      clearInterval(timer);
      await releaseLease(db, name, owner);
    },
  };
}
