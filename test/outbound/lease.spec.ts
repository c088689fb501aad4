import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { leaseHolder } from '../../src/db/lease.js';
import { silentLogger } from '../../src/log.js';
import { holdLease, SEND_LEASE } from '../../src/outbound/lease.js';
import { describeEachDatabase } from '../helpers/db.js';

describeEachDatabase('send lease', (ctx) => {
  beforeEach(async () => ctx().db('leases').delete());

  it('is renewed inside a transaction that outlasts its ttl (SQLite: the only connection is busy)', async () => {
    const { db } = ctx();
    const lease = await holdLease(db, 1200, silentLogger);
    await db.transaction(async (trx) => {
      for (let i = 0; i < 4; i++) {
        await sleep(500);
        await lease.renewWithin(trx);
      }
    });
    lease.assertHeld();
    assert.ok(Number((await leaseHolder(db, SEND_LEASE))!.expires_at) > Date.now());
    await lease.release();
    assert.equal(await leaseHolder(db, SEND_LEASE), undefined);
  });

  it('is reported lost once another runner took it over', async () => {
    const { db } = ctx();
    const lease = await holdLease(db, 3000, silentLogger);
    await db('leases').where({ name: SEND_LEASE }).update({ owner: 'other:1:x' });
    await sleep(1300);
    assert.throws(() => lease.assertHeld(), /lease was lost/);
    await lease.release();
    assert.equal((await leaseHolder(db, SEND_LEASE))!.owner, 'other:1:x', 'release leaves the new holder alone');
  });
});
