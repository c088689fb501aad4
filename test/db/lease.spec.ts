import { strict as assert } from 'node:assert';
import { acquireLease, leaseHolder, releaseLease, renewLease } from '../../src/db/lease.js';
import { describeEachDatabase } from '../helpers/db.js';

describeEachDatabase('lease', (ctx) => {
  it('one holder at a time; the other takes over only after expiry', async () => {
    const { db } = ctx();
    const t0 = 1_000_000;
    assert.equal(await acquireLease(db, 'l1', 'a', 10_000, t0), true);
    assert.equal(await acquireLease(db, 'l1', 'b', 10_000, t0 + 1), false);
    assert.equal(await renewLease(db, 'l1', 'a', 10_000, t0 + 5_000), true);
    assert.equal(await acquireLease(db, 'l1', 'b', 10_000, t0 + 14_000), false, 'renewed: not expired yet');
    assert.equal(await acquireLease(db, 'l1', 'b', 10_000, t0 + 15_001), true, 'expired: b takes over');
    assert.equal(await renewLease(db, 'l1', 'a', 10_000, t0 + 15_002), false, 'a lost it');
    assert.equal((await leaseHolder(db, 'l1'))?.owner, 'b');
    await releaseLease(db, 'l1', 'b');
    assert.equal(await acquireLease(db, 'l1', 'a', 10_000, t0 + 15_003), true);
  });

  it('two runners racing for a free lease: exactly one wins', async () => {
    const { db } = ctx();
    const results = await Promise.all(['x', 'y', 'z'].map((owner) => acquireLease(db, 'race', owner, 10_000)));
    assert.equal(results.filter(Boolean).length, 1);
  });
});
