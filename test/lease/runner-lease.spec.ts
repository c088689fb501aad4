import assert from 'node:assert/strict';
import type { Db } from '../../src/db/connection.js';
import { RUNNER_LEASE, makeRunnerLease, type RunnerLease } from '../../src/lease/runner-lease.js';
import { performance } from 'node:perf_hooks';
import { acquireLease, leaseHolder } from '../../src/db/lease.js';
import { silentLogger } from '../../src/log.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

describeEachDatabase('runner lease keeper', (ctx) => {
  const keepers: RunnerLease[] = [];
  afterEach(async () => {
    await Promise.all(keepers.splice(0).map((k) => k.stop()));
    await ctx().db('leases').delete();
  });

  function keeper(owner: string, ttlMs = 600) {
    const events: string[] = [];
    const k = makeRunnerLease({
      db: ctx().db, owner, ttlMs, intervalMs: 50, log: silentLogger,
      onAcquired: async () => { events.push('acquired'); },
      onLost: async (reason) => { events.push(`lost: ${reason}`); },
    });
    keepers.push(k);
    return Object.assign(k, { events });
  }

  it('one runner holds the lease, the other waits; a clean stop hands over at once', async () => {
    const a = keeper('a');
    a.start();
    await waitFor('a active', () => a.held());
    const b = keeper('b', 60_000);
    b.start();
    // while a renews its lease several times, b (polling as often) never gets it
    const renewals = await countRenewals(ctx().db, 'a', 5);
    assert.equal(renewals, 5);
    assert.equal(b.held(), false);
    await a.stop();
    await waitFor('b takes over', () => b.held());
    assert.equal((await leaseHolder(ctx().db, RUNNER_LEASE))?.owner, 'b');
    assert.deepEqual(b.events, ['acquired']);
  });

  it('a standby takes over when the holder stops renewing (crashed) and the lease expires', async () => {
    const expiresAt = Date.now() + 400;
    await ctx().db('leases').insert({ name: RUNNER_LEASE, owner: 'crashed', expires_at: expiresAt, acquired_at: new Date().toISOString() });
    const b = keeper('b');
    b.start();
    await waitFor('b takes over', () => b.held());
    const row = await leaseHolder(ctx().db, RUNNER_LEASE);
    assert.equal(row?.owner, 'b');
    assert.ok(Date.parse(row!.acquired_at) >= expiresAt, `taken at ${row!.acquired_at}, not before the lease expired at ${new Date(expiresAt).toISOString()}`);
  });

  it('reports a lost lease when another runner took it over', async () => {
    const a = keeper('a', 60_000);
    a.start();
    await waitFor('a active', () => a.held());
    // as if our process had stalled past its expiry and another runner had taken the lease
    await ctx().db('leases').where({ name: RUNNER_LEASE }).update({ owner: 'usurper', expires_at: Date.now() + 60_000 });
    await waitFor('a notices', () => a.events.length === 2);
    assert.equal(a.held(), false);
    assert.match(a.events[1]!, /^lost: the lease expired and was taken by another runner/);
    await a.stop();
    assert.equal((await leaseHolder(ctx().db, RUNNER_LEASE))?.owner, 'usurper', 'stop() must not release a lease we no longer hold');
  });

  it('after a suspend that the monotonic clock did not count (a host asleep), holds the lease no longer than it lasted', async () => {
    const a = keeper('a', 1_500);
    a.start();
    await waitFor('a active', () => a.held());
    // the host sleeps: nothing of this process runs, and Linux's monotonic clock (performance.now)
    // stands still; the wall clock and the database's go on
    const frozenAt = performance.now();
    const realNow = performance.now;
    performance.now = () => frozenAt;
    try {
      const wakes = Date.now() + 2_000;
      while (Date.now() < wakes) { /* asleep */ }
      // woken: another runner takes the lease that expired meanwhile, before a's next renewal says so
      assert.equal(await acquireLease(ctx().db, RUNNER_LEASE, 'b', 60_000), true);
      assert.equal(a.held(), false, 'b holds it now: a must not believe it still does');
    } finally {
      performance.now = realNow;
    }
  });

  it('gives the lease back when it cannot start (onAcquired fails), and tries again', async () => {
    let attempts = 0;
    const k = makeRunnerLease({
      db: ctx().db, owner: 'flaky', ttlMs: 60_000, intervalMs: 50, log: silentLogger,
      onAcquired: async () => { if (++attempts === 1) throw new Error('database hiccup'); },
      onLost: async () => undefined,
    });
    keepers.push(k);
    k.start();
    await waitFor('second attempt', () => k.held());
    assert.equal(attempts, 2);
  });
});

/** Waits until `owner` has renewed its lease `times` times (its expiry moved forward); returns the count. */
async function countRenewals(db: Db, owner: string, times: number): Promise<number> {
  let seen = 0;
  let last = Number((await leaseHolder(db, RUNNER_LEASE))?.expires_at ?? 0);
  await waitFor(`${times} renewals by ${owner}`, async () => {
    const row = await leaseHolder(db, RUNNER_LEASE);
    assert.equal(row?.owner, owner);
    if (Number(row!.expires_at) > last) {
      seen++;
      last = Number(row!.expires_at);
    }
    return seen >= times;
  });
  return seen;
}
