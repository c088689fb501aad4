import assert from 'node:assert/strict';
import type { Alert, Alerter } from '../../src/daemon/alerts.js';
import { makeDaemon } from '../../src/daemon/daemon.js';
import { RUNNER_LEASE } from '../../src/lease/runner-lease.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { recordingReceiveJob, recordingSendJob } from './fakes.js';

describeEachDatabase('daemon: the runner lease taken again', (ctx) => {
  it('ends the critical lease-lost alert with one resolved alert, and a first start sends none', async () => {
    const alerts: Alert[] = [];
    const alerter: Alerter = { send: async (alert) => { alerts.push(alert); return true; } };
    const daemon = makeDaemon({
      db: ctx().db, config: testConfig({ schedule: { catchUp: false } }), log: silentLogger, alerter,
      jobs: { send: recordingSendJob(), receive: recordingReceiveJob() }, startTicker: () => ({ stop() {} }), leaseIntervalMs: 50,
    });
    daemon.start();
    try {
      await waitFor('active', () => daemon.status().role === 'active');
      assert.equal(alerts.length, 0, 'taking the lease at start is not news');
      // another runner holds the lease for a moment (a network split), then lets it run out
      await ctx().db('leases').where({ name: RUNNER_LEASE }).update({ owner: 'other-host:1:abc', expires_at: Date.now() + 400 });
      await waitFor('lost', () => alerts.some((a) => a.kind === 'lease-lost'));
      await waitFor('active again', () => daemon.status().role === 'active' && alerts.length === 2, 15_000);
      const [lost, resolved] = alerts;
      assert.equal(lost!.severity, 'critical');
      assert.equal(resolved!.kind, 'resolved');
      assert.equal(resolved!.severity, 'info');
      assert.match(resolved!.message, /holds the runner lease again \(lost at \d{4}-\d\d-\d\dT[^)]*: /);
      assert.equal(resolved!.details?.job, 'runner lease');
    } finally {
      await daemon.stop('test over');
      await ctx().db('leases').delete();
    }
  });
});
