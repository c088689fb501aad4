import { jobNameFor } from '../config/bureau-view.js';
import type { Db } from '../db/connection.js';
import { TransientError } from '../errors.js';
import type { Logger } from '../log.js';
import { makeLeaseKeeper, type LeaseKeeper } from './keeper.js';

export const SEND_LEASE = 'send';

/**
 * The lease of a bureau's send, which is also its job's name in the history, the metrics and the
 * alerts: `send` for the first bureau of the config (the name of every earlier version, so an existing
 * deployment keeps its lease and history), `send:<CODE>` for the others.
 */
export function sendLeaseOf(bureaus: ReadonlyArray<{ code: string }>, code: string): string {
  return jobNameFor({ code, first: bureaus[0]?.code === code }, SEND_LEASE);
}

/** The bureau code a send job's name stands for (`send` is the first bureau's); undefined for another job. */
export function bureauOfSendJob(bureaus: ReadonlyArray<{ code: string }>, job: string): string | undefined {
  if (job === SEND_LEASE) return bureaus[0]?.code;
  return job.startsWith(`${SEND_LEASE}:`) ? job.slice(SEND_LEASE.length + 1) : undefined;
}

/** A job's lease, held for one run and renewed in the background while the run lasts. */
export type HeldLease = Pick<LeaseKeeper, 'assertHeld' | 'renewWithin' | 'duringTransaction'> & {
  release(): Promise<void>;
};

/** Takes the lease or throws a TransientError naming the runner that holds it. */
export async function holdLease(db: Db, ttlMs: number, log: Logger, name = SEND_LEASE): Promise<HeldLease> {
  const keeper = makeLeaseKeeper({ db, name, ttlMs, log, unref: true });
  if (!(await keeper.take())) {
    const holder = await keeper.holder();
    const until = holder ? new Date(Number(holder.expires_at)).toISOString() : 'now';
    throw new TransientError(`another runner holds the ${name} lease (${holder?.owner ?? 'unknown'}, until ${until})`);
  }
  keeper.start();
  return {
    assertHeld: keeper.assertHeld,
    renewWithin: keeper.renewWithin,
    duringTransaction: keeper.duringTransaction,
    release: keeper.stop,
  };
}
