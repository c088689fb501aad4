import assert from 'node:assert/strict';
import { makeDaemon } from '../../src/daemon/daemon.js';
import { RUNNER_LEASE } from '../../src/lease/runner-lease.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';

/**
 * A process paused (SIGSTOP, a VM frozen) past its lease's end wakes up with its timers due at once:
 * the ticker may run before the lease keeper learns that another runner took over. Nothing may start.
 */
describeEachDatabase('daemon woken up after its lease ran out', (ctx) => {
  it('starts no run on a tick while its lease has run out, whatever the keeper has not noticed yet', async function () {
    this.timeout(60_000);
    const clock = manualClock('2026-11-27T10:01:00Z');
    const receive = recordingReceiveJob();
    let tick = () => {};
    const daemon = makeDaemon({
      db: ctx().db, config: testConfig({ schedule: { catchUp: false }, daemon: { leaseTtlSeconds: 5 } }), log: silentLogger, clock,
      jobs: { send: recordingSendJob(), receive }, startTicker: (t) => { tick = t; return { stop() {} }; },
      // the keeper's next look is far off, as a paused process's timers all come due together
      leaseIntervalMs: 10 * 60_000,
    });
    daemon.start();
    try {
      await waitFor('active', () => daemon.status().role === 'active' && receive.calls.length === 1);
      await daemon.scheduler.settled();
      await waitFor('the lease ran out (monotonic time)', () => !daemon.leaseHeld(), 20_000);
      await ctx().db('leases').where({ name: RUNNER_LEASE }).update({ owner: 'other-host:1:abc', expires_at: Date.now() + 60_000 });
      clock.set('2026-11-27T10:16:00Z'); // a receive poll is due
      tick();
      await daemon.scheduler.settled();
      assert.equal(receive.calls.length, 1, 'no receive started without the lease');
    } finally {
      await daemon.stop('test over');
      await ctx().db('leases').delete();
    }
  });
});
