import assert from 'node:assert/strict';
import { makeDaemon } from '../../src/daemon/daemon.js';
import { leaseHolder } from '../../src/db/lease.js';
import { RUNNER_LEASE } from '../../src/lease/runner-lease.js';
import { holdLease } from '../../src/lease/job-lease.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { recordingReceiveJob, recordingSendJob } from '../daemon/fakes.js';

const HOUR = 3_600_000;

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Lease expiry is written and compared on the database's clock: two hosts whose clocks disagree by
 * an hour still agree on whether a lease is live. (With host clocks, a runner an hour ahead would
 * see every lease as expired, and a holder an hour behind would write expiries already past.)
 */
describeEachDatabase('leases and skewed host clocks', (ctx) => {
  function daemonWithClockOff(offsetMs: number, owner: string) {
    return makeDaemon({
      db: ctx().db, config: testConfig({ schedule: { catchUp: false } }), log: silentLogger, owner,
      clock: () => new Date(Date.now() + offsetMs),
      alerter: { send: async () => true },
      jobs: { send: recordingSendJob(), receive: recordingReceiveJob() }, startTicker: () => ({ stop() {} }), leaseIntervalMs: 50,
    });
  }

  const cases = [
    { holder: 0, other: +HOUR, what: 'a runner an hour ahead cannot take the live lease of a runner on time' },
    { holder: -HOUR, other: 0, what: 'a runner on time cannot take the live lease of a runner an hour behind' },
  ];
  for (const { holder, other, what } of cases) {
    it(what, async () => {
      const first = daemonWithClockOff(holder, 'holder:1:a');
      const second = daemonWithClockOff(other, 'other:2:b');
      try {
        first.start();
        await waitFor('holder active', () => first.leaseHeld());
        second.start();
        // many standby attempts (every 50 ms) and renewals
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(second.leaseHeld(), false);
        assert.equal(second.status().role, 'standby');
        assert.equal(first.status().role, 'active');
        assert.equal((await leaseHolder(ctx().db, RUNNER_LEASE))?.owner, 'holder:1:a');
        await first.stop('test over');
        await waitFor('the other takes over once the lease is given back', () => second.leaseHeld(), 2000);
      } finally {
        await first.stop('test over');
        await second.stop('test over');
        await ctx().db('leases').delete();
      }
    });
  }

  it('a job lease is live for the database whatever the host clock: expiry is the database time plus the TTL', async () => {
    const { db } = ctx();
    const realNow = Date.now;
    Date.now = () => realNow() - HOUR; // a host an hour behind (a host clock must not enter the expiry)
    let lease;
    try {
      lease = await holdLease(db, 60_000, silentLogger, 'skew-test');
    } finally {
      Date.now = realNow;
    }
    try {
      const expires = Number((await leaseHolder(db, 'skew-test'))!.expires_at);
      assert.ok(Math.abs(expires - (Date.now() + 60_000)) < 5_000, `expires_at ${expires} is the database's now + 60 s`);
      await assert.rejects(holdLease(db, 60_000, silentLogger, 'skew-test'), /another runner holds the skew-test lease/);
    } finally {
      await lease.release();
    }
  });
});
