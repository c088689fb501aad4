import { strict as assert } from 'node:assert';
import { configSchema } from '../../src/config/schema.js';
import type { Alert } from '../../src/daemon/alerts.js';
import { makeDaemon } from '../../src/daemon/daemon.js';
import type { ReceiveJob } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { describeEachDatabase } from '../helpers/db.js';
import { sample } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';
import { manualClock, recordingAlerter, recordingReceiveJob, recordingSendJob } from './fakes.js';
import { startActive } from './scheduler-harness.js';

describeEachDatabase("daemon: each bureau's reports counted and alerted under its code", (ctx) => {
  it("counts and alerts the reports of the bureau whose receive succeeded, though the other's failed; each series is there at 0 from the start", async () => {
    const { db } = ctx();
    const config = configSchema.parse({
      issuer: { code: 'BXISSUER' }, schedule: { catchUp: false },
      bureaus: [{ code: 'BUREAU01' }, { code: 'EMB01' }], routing: { rules: [], default: 'BUREAU01' },
    });
    const first = recordingReceiveJob(() => ({
      applied: [{ remoteName: 'BXISSUER_REPORT_20261127_000001.xml.rsa', rejections: 1, shipments: 2, stockItems: 0, anomalies: 2 }],
      quarantined: [{ remoteName: 'BXISSUER_REPORT_20261127_000002.xml.rsa', reason: 'not valid XML' }],
      duplicates: 1,
    }));
    // runs after the first bureau's turn: its failure must not take the first bureau's counts with it
    const failing: ReceiveJob = { run: async () => { throw new Error('connection refused'); } };
    const alerts: Alert[] = [];
    const daemon = makeDaemon({
      db, config, log: silentLogger, clock: manualClock('2026-11-27T15:00:00Z'),
      jobs: { send: recordingSendJob(), receive: recordingReceiveJob(), receivePerBureau: [{ code: 'BUREAU01', job: first }, { code: 'EMB01', job: failing }] },
      alerter: recordingAlerter(alerts), keyExpiries: async () => [], startTicker: () => ({ stop() {} }),
    });
    try {
      const before = await daemon.metrics.registry.metrics();
      for (const bureau of ['BUREAU01', 'EMB01']) {
        for (const name of ['bx_reports_applied_total', 'bx_reports_quarantined_total', 'bx_reports_duplicate_total', 'bx_report_anomalies_total', 'bx_cards_sent_total']) {
          assert.equal(sample(before, `${name}{bureau="${bureau}"}`), 0, `${name} of ${bureau} before any run`);
        }
      }
      await startActive(daemon);
      assert.equal(first.calls.length, 1, 'the receive ran once, at activation');
      const text = await daemon.metrics.registry.metrics();
      assert.deepEqual(
        ['applied', 'quarantined', 'duplicate'].map((what) => [sample(text, `bx_reports_${what}_total{bureau="BUREAU01"}`), sample(text, `bx_reports_${what}_total{bureau="EMB01"}`)]),
        [[1, 0], [1, 0], [1, 0]],
      );
      assert.equal(sample(text, 'bx_report_anomalies_total{bureau="BUREAU01"}'), 2);
      assert.equal(sample(text, 'bx_job_runs_total{job="receive",outcome="failure"}'), 1, 'the run failed, for EMB01');
      await waitFor('the alerts', () => alerts.some((a) => a.kind === 'quarantine') && alerts.some((a) => a.kind === 'failure'));
      const quarantine = alerts.find((a) => a.kind === 'quarantine')!;
      assert.equal(quarantine.message, 'report BXISSUER_REPORT_20261127_000002.xml.rsa from bureau BUREAU01 quarantined: not valid XML');
      assert.equal(quarantine.details?.bureau, 'BUREAU01');
      assert.match(alerts.find((a) => a.kind === 'failure')!.message, /bureau EMB01: connection refused/);
    } finally {
      await daemon.stop('test over');
    }
  });
});
