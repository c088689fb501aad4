import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Db } from '../db/connection.js';
import { acquireLease, leaseHolder, releaseLease, renewalThrough, type LeaseRenewal, type LeaseRow } from '../db/lease.js';
import { messageOf, TransientError } from '../errors.js';
import type { Logger } from '../log.js';

/** host:pid:random, so a restarted process on the same host is a new owner. */
export function leaseOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export interface LeaseKeeperOptions {
  db: Db;
  /** what is leased */
  name: string;
  owner?: string;
  ttlMs: number;
  /** how often to renew (held) or try to take the lease (standby); default a third of the TTL */
  intervalMs?: number;
  log: Logger;
  /** we lost the lease we held: called once per loss */
  onLost?(reason: string): Promise<void> | void;
  /** let the process exit while only this keeper's timer is pending (a job's lease) */
  unref?: boolean;
}

/**
 * One lease kept by this process: taken in the database, renewed in the background, checked before
 * each state change, given back at the end. Expiry times are the database's (db/lease.ts); the
 * keeper measures its own time only as elapsed time (how long since the last renewal that the
 * database confirmed): on the monotonic clock, or the wall clock's when it counted more (a host that
 * slept), so a wall clock stepped back or wrong never makes a lease last longer.
 */
export interface LeaseKeeper {
  readonly name: string;
  readonly owner: string;
  /** one attempt to take the lease: true when we hold it now */
  take(): Promise<boolean>;
  /** who holds the lease according to the database */
  holder(): Promise<LeaseRow | undefined>;
  /**
   * Starts the background loop: renews the lease while held; with `standby`, also tries to take it
   * while it is not (a standby runner).
   */
  start(standby?: Standby): void;
  /** we hold the lease and its last confirmed renewal has not run out */
  held(): boolean;
  /** throws once the lease was lost (another runner may have taken over): stop before the next state change */
  assertHeld(): void;
  /**
   * Renews through the caller's transaction (`within`: the claim's, the confirm's) when due: a long
   * transaction (a big claim) holds SQLite's only connection, so the background renewal cannot run
   * meanwhile. Throws when the lease is lost.
   */
  renewWithin(within: LeaseRenewal): Promise<void>;
  /**
   * Runs `fn` (a transaction renewing through renewWithin) with the background renewal paused. When
   * `fn` fails, the renewals made through it count no more (they were rolled back).
   */
  duringTransaction<T>(fn: () => Promise<T>): Promise<T>;
  /** stops the loop, then gives the lease back if we still hold it (it expires by itself otherwise) */
  stop(): Promise<void>;
}

/** What a standby runner is told by the keeper's loop. */
export interface Standby {
  /** we took the lease; a throw gives it back (tried again at the next interval) */
  taken(): Promise<void>;
  /** another runner holds it */
  refused(holder: LeaseRow | undefined): void;
}

/** A moment read on both clocks of this host. */
interface Moment {
  monotonic: number;
  wall: number;
}
const moment = (): Moment => ({ monotonic: performance.now(), wall: Date.now() });

export function makeLeaseKeeper(options: LeaseKeeperOptions): LeaseKeeper {
  const { db, name, ttlMs, log } = options;
  const owner = options.owner ?? leaseOwner();
  const intervalMs = options.intervalMs ?? Math.max(1000, Math.floor(ttlMs / 3));
  let isHeld = false;
  /** counts takes and losses: the late answer of a renewal sent before the last one changes nothing */
  let term = 0;
  /** when the last confirmed take or renewal was sent */
  let confirmedAt: Moment = { monotonic: -Infinity, wall: -Infinity };
  let transactions = 0;
  /** the transaction the job renews through (renewWithin) while it lasts: the background renews through it too */
  let activeTrx: LeaseRenewal | undefined;
  const throughPool = renewalThrough(db);
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;

  /**
   * Time since the last confirmed renewal: on the monotonic clock, which a step of the wall clock
   * does not disturb, unless the wall clock counted more. Linux's monotonic clock stands still while
   * the host sleeps (a suspended laptop or VM): counted alone, a runner waking after its lease had
   * run out in the database, and been taken by another, went on as its holder until its next renewal.
   * A wall clock stepped forward makes a renewal due early, never a lease last longer.
   */
  const sinceConfirmed = () => {
    const now = moment();
    return Math.max(now.monotonic - confirmedAt.monotonic, now.wall - confirmedAt.wall);
  };
  const timeLeft = () => ttlMs - sinceConfirmed();

  async function take(): Promise<boolean> {
    const at = moment();
    if (!(await acquireLease(db, name, owner, ttlMs))) return false;
    isHeld = true;
    term++;
    confirmedAt = at;
    return true;
  }

  async function lose(reason: string): Promise<void> {
    if (!isHeld) return;
    isHeld = false;
    term++;
    log.error({ lease: name, reason }, `lease lost: ${options.onLost ? 'scheduling stops' : 'stopping at the next checkpoint'}`);
    await options.onLost?.(reason);
  }

  /** `bounded`: the answer is waited for no longer than the lease lasts (the loss itself, onLost, is not bounded) */
  async function renew(via: LeaseRenewal, bounded = false): Promise<void> {
    const at = moment();
    const sentIn = term;
    const answer = via.renewLease(name, owner, ttlMs);
    const renewed = await (bounded ? beforeRunningOut(answer) : answer);
    if (sentIn !== term) return;
    if (!renewed) await lose('the lease expired and was taken by another runner');
    // of two renewals answered out of order, the one sent last counts
    else if (at.monotonic > confirmedAt.monotonic) confirmedAt = at;
  }

  async function renewInBackground(): Promise<void> {
    try {
      // a database that went silent (packets dropped, a hung server) leaves the query waiting for
      // minutes: wait no longer than the lease lasts, then it is lost (another runner may take it)
      await renew(throughPool, true);
    } catch (err) {
      // the database is unreachable: we may go on only while our last renewal has not run out
      if (intervalMs < timeLeft()) log.warn({ lease: name, error: messageOf(err) }, 'could not renew the lease: trying again');
      else await lose(`the lease could not be renewed before it expired: ${messageOf(err)}`);
    }
  }

  function beforeRunningOut<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const ranOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the database did not answer')), Math.max(0, timeLeft()));
      if (options.unref) timer.unref();
    });
    return Promise.race([work, ranOut]).finally(() => clearTimeout(timer));
  }

  async function renewThroughTransaction(trx: LeaseRenewal): Promise<void> {
    try {
      await renew(trx);
    } catch (err) {
      // the transaction ended meanwhile (committed or rolled back): nothing to renew through
      if (activeTrx === trx) throw err;
    }
  }

  async function tick(standby?: Standby): Promise<void> {
    // during a transaction that renews the lease itself, a renewal from outside would wait for its
    // row lock (PostgreSQL) or connection (SQLite): renew through that transaction instead, so a
    // transaction that waits for other work (the claim waits for the file thread) keeps its lease
    if (transactions > 0) {
      if (activeTrx && isHeld && sinceConfirmed() >= intervalMs / 2) await renewThroughTransaction(activeTrx);
      return;
    }
    if (isHeld) {
      if (sinceConfirmed() >= intervalMs / 2) await renewInBackground();
    } else if (standby && !(await take())) {
      standby.refused(await leaseHolder(db, name, ttlMs));
    } else if (standby) {
      try {
        await standby.taken();
      } catch (err) {
        // not ready to run (e.g. the database failed mid-start): give the lease back and try again later
        isHeld = false;
        await releaseLease(db, name, owner, ttlMs).catch(() => undefined);
        throw err;
      }
    }
  }

  async function run(standby?: Standby): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        await tick(standby);
      } catch (err) {
        log.warn({ lease: name, error: messageOf(err) }, 'lease check failed: trying again');
      }
      await sleep(intervalMs, stopping.signal, options.unref ?? false);
    }
  }

  const held = () => isHeld && timeLeft() > 0;
  const assertHeld = () => {
    // a renewal that kept failing (database unreachable) counts as lost once the lease ran out
    if (!held()) throw new TransientError(`the ${name} lease was lost; another runner may continue`);
  };

  return {
    name,
    owner,
    take,
    holder: () => leaseHolder(db, name, ttlMs),
    start(standby) {
      loop ??= run(standby);
    },
    held,
    assertHeld,
    async renewWithin(within) {
      assertHeld();
      if (transactions > 0) activeTrx = within;
      if (sinceConfirmed() < ttlMs / 3) return;
      await renew(within);
      assertHeld();
    },
    async duringTransaction(fn) {
      const before = { confirmedAt, term };
      transactions++;
      try {
        return await fn();
      } catch (err) {
        // renewals through the transaction went with its rollback (the row's expiry is the one from
        // before it): counted, they made us believe in a lease that another runner could already
        // take. A commit that failed may have happened or not: the earlier expiry is the safe one.
        // (a renewal through it still on its way is ignored: a new term)
        if (term === before.term) {
          confirmedAt = before.confirmedAt;
          term++;
        }
        throw err;
      } finally {
        if (--transactions === 0) activeTrx = undefined;
      }
    },
    async stop() {
      stopping.abort();
      await loop;
      if (!isHeld) return;
      isHeld = false;
      await releaseLease(db, name, owner, ttlMs).catch((err) => log.warn({ lease: name, error: messageOf(err) }, 'could not release the lease: it expires by itself'));
    },
  };
}

function sleep(ms: number, signal: AbortSignal, unref: boolean): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    if (unref) timer.unref();
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
