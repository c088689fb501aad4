import type { Db } from '../db/connection.js';
import type { Logger } from '../log.js';
import { makeLeaseKeeper, type Standby } from './keeper.js';

/** The lease every runner (daemon, run-once) takes: one active runner per database. */
export const RUNNER_LEASE = 'daemon';

export { leaseOwner as runnerOwner } from './keeper.js';

export interface RunnerLeaseDeps {
  db: Db;
  owner: string;
  ttlMs: number;
  /** how often to renew (active) or try to take over (standby); default a third of the TTL */
  intervalMs?: number;
  log: Logger;
  /** we became the active runner */
  onAcquired(): Promise<void>;
  /** we are no longer the active runner: stop every run before resolving */
  onLost(reason: string): Promise<void>;
}

export interface RunnerLease {
  start(): void;
  held(): boolean;
  /** stops renewing and polling; releases the lease when held (call after the runs stopped) */
  stop(): Promise<void>;
}

/**
 * Keeps (or waits for) the runner lease. Active: renews it every interval; a renewal refused (the
 * lease expired and another runner took it) or impossible until it runs out makes us stop
 * scheduling. Standby: tries to take the lease every interval, which succeeds once it expired.
 */
export function makeRunnerLease(deps: RunnerLeaseDeps): RunnerLease {
  const { owner, ttlMs, log } = deps;
  const keeper = makeLeaseKeeper({ db: deps.db, name: RUNNER_LEASE, owner, ttlMs, intervalMs: deps.intervalMs, log, onLost: deps.onLost });
  let lastHolder: string | undefined;

  const standby: Standby = {
    async taken() {
      lastHolder = owner;
      log.info({ owner, ttlMs }, 'lease acquired: this daemon is the active runner');
      await deps.onAcquired();
    },
    refused(holder) {
      if (holder && holder.owner !== lastHolder) log.info({ holder: holder.owner, until: new Date(Number(holder.expires_at)).toISOString() }, 'standby: another runner holds the lease');
      lastHolder = holder?.owner;
    },
  };

  return {
    start: () => keeper.start(standby),
    held: keeper.held,
    async stop() {
      const wasHeld = keeper.held();
      await keeper.stop();
      if (wasHeld) log.info('lease released');
    },
  };
}
