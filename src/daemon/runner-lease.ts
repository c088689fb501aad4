import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/connection.js';
import { acquireLease, leaseHolder, releaseLease, renewLease } from '../db/lease.js';
import { messageOf } from '../errors.js';
import type { Clock } from '../jobs.js';
import type { Logger } from '../log.js';

/** The lease every runner (daemon, run-once) takes: one active runner per database. */
export const RUNNER_LEASE = 'daemon';

/** host:pid:random, so a restarted process on the same host is a new owner. */
export function runnerOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export interface LeaseKeeperDeps {
  db: Db;
  owner: string;
  ttlMs: number;
  /** how often to renew (active) or try to take over (standby); default a third of the TTL */
  intervalMs?: number;
  clock: Clock;
  log: Logger;
  /** we became the active runner */
  onAcquired(): Promise<void>;
  /** we are no longer the active runner: stop every run before resolving */
  onLost(reason: string): Promise<void>;
}

export interface LeaseKeeper {
  start(): void;
  held(): boolean;
  /** stops renewing and polling; releases the lease when held (call after the runs stopped) */
  stop(): Promise<void>;
}

/**
 * Keeps (or waits for) the runner lease. Active: renews it every interval; a renewal refused (the
 * lease expired and another runner took it) or impossible until our own expiry time makes us stop
 * scheduling. Standby: tries to take the lease every interval, which succeeds once it expired.
 */
export function makeLeaseKeeper(deps: LeaseKeeperDeps): LeaseKeeper {
  const { db, owner, ttlMs, clock, log } = deps;
  const intervalMs = deps.intervalMs ?? Math.max(1000, Math.floor(ttlMs / 3));
  let isHeld = false;
  let expiresAt = 0;
  let lastHolder: string | undefined;
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;

  const now = () => clock().getTime();

  async function tryAcquire(): Promise<void> {
    const at = now();
    if (!(await acquireLease(db, RUNNER_LEASE, owner, ttlMs, at))) {
      const holder = await leaseHolder(db, RUNNER_LEASE);
      if (holder && holder.owner !== lastHolder) log.info({ holder: holder.owner, until: new Date(Number(holder.expires_at)).toISOString() }, 'standby: another runner holds the lease');
      lastHolder = holder?.owner;
      return;
    }
    isHeld = true;
    expiresAt = at + ttlMs;
    lastHolder = owner;
    log.info({ owner, ttlMs }, 'lease acquired: this daemon is the active runner');
    try {
      await deps.onAcquired();
    } catch (err) {
      // not ready to run (e.g. the database failed mid-start): give the lease back and try again later
      isHeld = false;
      await releaseLease(db, RUNNER_LEASE, owner).catch(() => undefined);
      throw err;
    }
  }

  async function renew(): Promise<void> {
    const at = now();
    let renewed: boolean;
    try {
      renewed = await renewLease(db, RUNNER_LEASE, owner, ttlMs, at);
    } catch (err) {
      // the database is unreachable: we may keep running only while our lease has not expired
      if (now() + intervalMs < expiresAt) {
        log.warn({ error: messageOf(err) }, 'could not renew the lease: trying again');
        return;
      }
      return lose(`the lease could not be renewed before it expired: ${messageOf(err)}`);
    }
    if (renewed) expiresAt = at + ttlMs;
    else return lose('the lease expired and was taken by another runner');
  }

  async function lose(reason: string): Promise<void> {
    isHeld = false;
    log.error({ reason }, 'lease lost: scheduling stops');
    await deps.onLost(reason);
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        if (isHeld) await renew();
        else await tryAcquire();
      } catch (err) {
        log.warn({ error: messageOf(err) }, 'lease check failed: trying again');
      }
      await sleep(intervalMs, stopping.signal);
    }
  }

  return {
    start() {
      loop ??= run();
    },
    held: () => isHeld,
    async stop() {
      stopping.abort();
      await loop;
      if (isHeld) {
        isHeld = false;
        await releaseLease(db, RUNNER_LEASE, owner).catch((err) => log.warn({ error: messageOf(err) }, 'could not release the lease: it expires by itself'));
        log.info('lease released');
      }
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
