import assert from 'node:assert/strict';
import { makeAlerter } from '../../src/daemon/alerts.js';
import { makeDaemon } from '../../src/daemon/daemon.js';
import { RUNNER_LEASE } from '../../src/lease/runner-lease.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhook } from '../helpers/webhook.js';
import { recordingReceiveJob, recordingSendJob } from './fakes.js';

describeEachDatabase('daemon: the lease-lost alert to a hung webhook', (ctx) => {
  it('does not hold the daemon: it takes the lease again once free, and stops at once', async function () {
    this.timeout(60_000);
    const hook = await startWebhook(() => undefined); // takes the alert and never answers: a hung endpoint
    const config = testConfig({ schedule: { catchUp: false } });
    const alerter = makeAlerter({ webhookUrl: hook.url, retries: 0 }, { log: silentLogger, timeoutMs: 10 * 60_000 });
    const receive = recordingReceiveJob();
    const daemon = makeDaemon({
      db: ctx().db, config, log: silentLogger, alerter,
      jobs: { send: recordingSendJob(), receive }, startTicker: () => ({ stop() {} }), leaseIntervalMs: 50,
    });
    daemon.start();
    try {
      await waitFor('active', () => daemon.status().role === 'active' && receive.calls.length === 1);
      // another runner took the lease while we stalled; it gives it up (expires) soon after
      const takenUntil = Date.now() + 500;
      await ctx().db('leases').where({ name: RUNNER_LEASE }).update({ owner: 'other-host:1:abc', expires_at: takenUntil });
      await waitFor('the lease-lost alert sent (and hanging)', () => hook.requests.length === 1);
      await waitFor('active again once the other runner is gone', () => daemon.leaseHeld() && daemon.status().role === 'active', 15_000);
      assert.ok(Date.now() >= takenUntil);
      let stopped = false;
      void daemon.stop('test over').then(() => { stopped = true; });
      await waitFor('stopped without waiting for the webhook', () => stopped, 10_000);
    } finally {
      await hook.close();
      await daemon.stop('test over');
      await ctx().db('leases').delete();
    }
  });
});
