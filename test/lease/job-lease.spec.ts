import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLease, leaseHolder, renewalThrough } from '../../src/db/lease.js';
import { silentLogger } from '../../src/log.js';
import { holdLease, SEND_LEASE } from '../../src/lease/job-lease.js';
import { describeEachDatabase } from '../helpers/db.js';
import { throws, waitFor } from '../helpers/wait.js';

describeEachDatabase('send lease', (ctx) => {
  beforeEach(async () => ctx().db('leases').delete());

  it('is renewed inside a transaction that outlasts its ttl (SQLite: the only connection is busy)', async () => {
    const { db } = ctx();
    const ttlMs = 1200;
    const lease = await holdLease(db, ttlMs, silentLogger);
    const started = Date.now();
    // as the send job claims: the background renewal paused, a transaction working in short steps
    // until it has lasted well past the ttl (a background renewal queued behind SQLite's only
    // connection would write its stale expiry after the commit)
    await lease.duringTransaction(() => db.transaction(async (trx) => {
      while (Date.now() - started < 2 * ttlMs) {
        await sleep(100);
        await lease.renewWithin(renewalThrough(trx));
      }
    }));
    assert.ok(Date.now() - started >= 2 * ttlMs);
    lease.assertHeld();
    assert.ok(Number((await leaseHolder(db, SEND_LEASE))!.expires_at) > Date.now());
    await lease.release();
    assert.equal(await leaseHolder(db, SEND_LEASE), undefined);
  });

  it('is kept while its transaction waits for other work longer than the ttl (the claim waiting for the file thread)', async () => {
    const { db } = ctx();
    const ttlMs = 2100; // renewed every second (the keeper's shortest interval)
    const lease = await holdLease(db, ttlMs, silentLogger);
    const started = Date.now();
    await lease.duringTransaction(() => db.transaction(async (trx) => {
      await lease.renewWithin(renewalThrough(trx));
      // one long wait with no statement of the job's own: only the keeper's renewal through the
      // transaction keeps the lease
      await sleep(2.5 * ttlMs);
      lease.assertHeld();
      await trx('leases').where({ name: SEND_LEASE }).first();
    }));
    assert.ok(Date.now() - started >= 2.5 * ttlMs);
    lease.assertHeld();
    const row = await leaseHolder(db, SEND_LEASE);
    assert.ok(row && Number(row.expires_at) > Date.now(), 'the committed expiry lies ahead');
    await lease.release();
  });

  it('renewed only inside a transaction that then rolled back: counts as it stood before the transaction', async function () {
    this.timeout(20_000);
    const { db } = ctx();
    const ttlMs = 3000;
    const lease = await holdLease(db, ttlMs, silentLogger);
    const { expires_at: committed } = (await leaseHolder(db, SEND_LEASE))!;
    await assert.rejects(lease.duringTransaction(() => db.transaction(async (trx) => {
      await sleep(ttlMs / 3 + 200);
      await lease.renewWithin(renewalThrough(trx)); // due: renewed through the transaction alone
      // past the committed expiry: the rollback puts it back, in the past
      while (Date.now() <= Number(committed) + 300) await sleep(100);
      throw new Error('the claim failed');
    })), /the claim failed/);
    assert.equal(Number((await leaseHolder(db, SEND_LEASE))!.expires_at), Number(committed), 'the renewals were rolled back');
    assert.equal(await acquireLease(db, SEND_LEASE, 'other:1:x', 60_000), true, 'another runner may take it now');
    assert.throws(() => lease.assertHeld(), /lease was lost/, 'and we must not go on as its holder');
    await lease.release();
    assert.equal((await leaseHolder(db, SEND_LEASE))!.owner, 'other:1:x');
  });

  it('a renewal confirmed while the monotonic clock stood still (a host waking from sleep) keeps the lease', async () => {
    const { db } = ctx();
    const ttlMs = 1500;
    const frozenAt = performance.now();
    const realNow = performance.now;
    performance.now = () => frozenAt;
    try {
      const lease = await holdLease(db, ttlMs, silentLogger);
      await sleep(ttlMs / 3 + 100); // on the wall clock: a renewal is due
      const { expires_at: before } = (await leaseHolder(db, SEND_LEASE))!;
      await lease.renewWithin(renewalThrough(db));
      assert.ok(Number((await leaseHolder(db, SEND_LEASE))!.expires_at) > Number(before), 'renewed');
      lease.assertHeld();
      await lease.release();
    } finally {
      performance.now = realNow;
    }
  });

  it('is reported lost once another runner took it over', async () => {
    const { db } = ctx();
    const lease = await holdLease(db, 3000, silentLogger);
    await db('leases').where({ name: SEND_LEASE }).update({ owner: 'other:1:x' });
    // the background renewal finds the row taken over and marks the lease lost
    await waitFor('the renewal to notice the takeover', () => throws(() => lease.assertHeld()));
    assert.throws(() => lease.assertHeld(), /lease was lost/);
    await lease.release();
    assert.equal((await leaseHolder(db, SEND_LEASE))!.owner, 'other:1:x', 'release leaves the new holder alone');
  });
});
