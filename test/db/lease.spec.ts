import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLease, leaseHolder, releaseLease, renewLease } from '../../src/db/lease.js';
import { describeEachDatabase } from '../helpers/db.js';

describeEachDatabase('lease', (ctx) => {
  it('one holder at a time; the other takes over only after expiry (on the database clock)', async () => {
    const { db } = ctx();
    assert.equal(await acquireLease(db, 'l1', 'a', 1_500), true);
    assert.equal(await acquireLease(db, 'l1', 'b', 10_000), false);
    assert.equal(await acquireLease(db, 'l1', 'a', 1_500), true, 'already ours: kept');
    assert.equal(await renewLease(db, 'l1', 'a', 1_500), true);
    assert.equal(await acquireLease(db, 'l1', 'b', 10_000), false, 'renewed: not expired yet');
    await sleep(1_700);
    assert.equal(await acquireLease(db, 'l1', 'b', 10_000), true, 'expired: b takes over');
    assert.equal(await renewLease(db, 'l1', 'a', 1_500), false, 'a lost it');
    assert.equal(await acquireLease(db, 'l1', 'a', 1_500), false, 'and cannot take it back while live');
    assert.equal((await leaseHolder(db, 'l1'))?.owner, 'b');
    await releaseLease(db, 'l1', 'b');
    assert.equal(await acquireLease(db, 'l1', 'a', 10_000), true);
  });

  it('an expiry is the database time plus the TTL, in epoch milliseconds', async () => {
    const { db } = ctx();
    const before = Date.now();
    await acquireLease(db, 'l2', 'a', 60_000);
    const expires = Number((await leaseHolder(db, 'l2'))!.expires_at);
    // the database runs on this host in the tests: its clock and ours agree within a second
    assert.ok(expires >= before + 59_000 && expires <= Date.now() + 61_000, `${expires} vs ${before}`);
  });

  it('two runners racing for a free lease: exactly one wins', async () => {
    const { db } = ctx();
    const results = await Promise.all(['x', 'y', 'z'].map((owner) => acquireLease(db, 'race', owner, 10_000)));
    assert.equal(results.filter(Boolean).length, 1);
  });

  it('two runners racing for an expired lease: exactly one wins', async () => {
    const { db } = ctx();
    await db('leases').insert({ name: 'race2', owner: 'dead', expires_at: 0, acquired_at: new Date(0).toISOString() });
    const results = await Promise.all(['x', 'y', 'z'].map((owner) => acquireLease(db, 'race2', owner, 10_000)));
    assert.equal(results.filter(Boolean).length, 1);
  });
});
