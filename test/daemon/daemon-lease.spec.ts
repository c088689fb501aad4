import assert from 'node:assert/strict';
import type { Alert } from '../../src/daemon/alerts.js';
import { makeDaemon } from '../../src/daemon/daemon.js';
import { RUNNER_LEASE } from '../../src/lease/runner-lease.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { recordingAlerter, recordingReceiveJob, recordingSendJob } from './fakes.js';

describeEachDatabase('daemon and the runner lease', (ctx) => {
  function daemonWith(receive = recordingReceiveJob()) {
    const alerts: Alert[] = [];
    const daemon = makeDaemon({
      db: ctx().db, config: testConfig({ schedule: { catchUp: false } }), log: silentLogger, alerter: recordingAlerter(alerts),
      jobs: { send: recordingSendJob(), receive }, startTicker: () => ({ stop() {} }), leaseIntervalMs: 50,
    });
    return { daemon, alerts, receive };
  }

  it('a daemon that loses its lease aborts its run, stops scheduling, alerts, and waits as standby', async () => {
    const { daemon, alerts, receive } = daemonWith();
    receive.hold();
    daemon.start();
    try {
      await waitFor('active with a receive running', () => daemon.status().role === 'active' && receive.calls.length === 1);
      await ctx().db('leases').where({ name: RUNNER_LEASE }).update({ owner: 'other-host:1:abc', expires_at: Date.now() + 60_000 });
      await waitFor('standby', () => daemon.status().role === 'standby');
      assert.equal(receive.calls[0]!.signal!.aborted, true, 'the running receive was asked to stop');
      await daemon.scheduler.settled();
      assert.equal(daemon.leaseHeld(), false);
      assert.equal(alerts[0]?.kind, 'lease-lost');
      daemon.scheduler.tick();
      assert.equal(receive.calls.length, 1, 'nothing new starts');
      assert.equal((await daemon.health()).healthy, true, 'a standby with a database is healthy');
      await daemon.stop('test over');
      assert.equal((await ctx().db('leases').where({ name: RUNNER_LEASE }).first())?.owner, 'other-host:1:abc', 'the other runner keeps its lease');
    } finally {
      await daemon.stop('test over');
      await ctx().db('leases').delete();
    }
  });

  it('stop releases the lease so a standby takes over at once', async () => {
    const first = daemonWith();
    const second = daemonWith();
    first.daemon.start();
    await waitFor('first active', () => first.daemon.leaseHeld());
    second.daemon.start();
    try {
      // the first keeps renewing its lease (every 50 ms, as often as the second polls) while the second waits
      let renewals = 0;
      let last = 0;
      await waitFor('five renewals by the first', async () => {
        const expiresAt = Number((await ctx().db('leases').where({ name: RUNNER_LEASE }).first())?.expires_at ?? 0);
        if (expiresAt > last) [renewals, last] = [renewals + 1, expiresAt];
        return renewals > 5;
      });
      assert.equal(first.daemon.leaseHeld(), true);
      assert.equal(second.daemon.status().role, 'standby');
      assert.equal(second.receive.calls.length, 0);
      await first.daemon.stop('maintenance');
      await waitFor('second active', () => second.daemon.status().role === 'active');
      await waitFor('second polls', () => second.receive.calls.length === 1);
    } finally {
      await second.daemon.stop('test over');
      await ctx().db('leases').delete();
    }
  });
});
