import type { Db } from '../db/connection.js';
import { TransientError } from '../errors.js';
import type { Logger } from '../log.js';
import { makeLeaseKeeper, type LeaseKeeper } from './keeper.js';

export const SEND_LEASE = 'send';

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
