import assert from 'node:assert/strict';
import { makeAlerter } from '../../src/daemon/alerts.js';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import type { ReceiveResult, SendResult } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { createTestDatabase, describeEachDatabase } from '../helpers/db.js';
import { sample } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';
import { startWebhook, type Webhook } from '../helpers/webhook.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';
import { startActive } from './scheduler-harness.js';

const sendResult = (): SendResult => ({
  batches: [{ fileName: 'BXISSUER_PERSO_20261127_000001.dat.pgp', records: 3, state: 'sent' }],
  cardsSent: 3,
  invalid: [{ contractNumber: '1001', plasticId: '2001', reason: 'embossName: too long' }],
});
let receiveRuns = 0;
/** the first receive finds two reports (one applied, one quarantined), later ones nothing */
const receiveResult = (): ReceiveResult => (receiveRuns++ > 0 ? { applied: [], quarantined: [], duplicates: 0 } : {
  applied: [{ remoteName: 'BXISSUER_REPORT_20261127_000001.xml.rsa', rejections: 1, shipments: 2, stockItems: 1, anomalies: 2 }],
  quarantined: [{ remoteName: 'BXISSUER_REPORT_20261127_000002.xml.rsa', reason: 'not valid XML' }],
  duplicates: 0,
});

async function get(url: string): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(url);
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}

describeEachDatabase('daemon health and metrics over HTTP', (ctx) => {
  let daemon: Daemon;
  let http: HttpEndpoint;
  const alerts: any[] = [];
  let hook: Webhook;
  const clock = manualClock('2026-11-27T15:00:00Z'); // Friday 16:00 Berlin
  const sendJob = recordingSendJob(sendResult);
  const receiveJob = recordingReceiveJob(receiveResult);

  before(async () => {
    receiveRuns = 0;
    hook = await startWebhook((request, res) => { alerts.push(JSON.parse(request.body)); res.end(); });
    const config = testConfig({
      schedule: { catchUp: false },
      http: { enabled: true, port: 0 },
      alerts: { webhookUrl: hook.url, retries: 0 },
      pgp: { expiryWarningDays: 30 },
    });
    const { db } = ctx();
    await db('plastic_stock').insert({
      product_code: 'CLASSIC01', opening: 1000, received: 0, used: 950, spoiled: 0, closing: 50, min_stock: 100,
      low: true, report_id: null, report_date: '2026-11-27', updated_at: clock().toISOString(),
    });
    daemon = makeDaemon({
      db, config, log: silentLogger, clock, jobs: { send: sendJob, receive: receiveJob },
      alerter: makeAlerter(config.alerts, { log: silentLogger, clock }),
      // each key is alerted on from its own bureau's warning days (the config's 30 when none is given)
      keyExpiries: async () => [
        { purpose: 'bureau', fingerprint: 'ABCDEF0123456789', daysToExpiry: 12 },
        { purpose: 'bureau', fingerprint: 'FEDCBA9876543210', daysToExpiry: 40, warningDays: 45, bureau: 'EMB01' },
        { purpose: 'bureau', fingerprint: '0123456789ABCDEF', daysToExpiry: 20, warningDays: 10, bureau: 'EMB02' },
      ],
      startTicker: () => ({ stop() {} }),
    });
    http = await startHttpServer(config.http, { health: () => daemon.health(), registry: daemon.metrics.registry, log: silentLogger });
    await startActive(daemon);
    clock.set('2026-11-27T16:00:00Z'); // 17:00 Berlin cut-off
    daemon.scheduler.tick();
    await daemon.scheduler.settled();
  });

  after(async () => {
    await daemon?.stop('test over');
    await http?.close();
    await hook?.close();
  });

  it('/healthz answers 200 with the database, the lease and the last successful runs', async () => {
    const { status, type, text } = await get(`${http.url}/healthz`);
    assert.equal(status, 200, text);
    assert.match(type, /application\/json/);
    const health = JSON.parse(text);
    assert.equal(health.healthy, true);
    assert.equal(health.ready, true);
    assert.deepEqual(health.database, { reachable: true });
    assert.equal(health.lease.held, true);
    assert.equal(typeof health.lease.holder === 'string' || health.lease.holder === null, true, 'the lease holder is known');
    assert.deepEqual(health.bureau, { reachable: true, problems: [] });
    assert.equal(health.status.role, 'active');
    assert.equal(health.status.jobs.send.lastSuccessAt, '2026-11-27T16:00:00.000Z');
    assert.equal(health.status.jobs.send.lastOutcome, 'partial', 'one contract was Invalid');
    assert.equal(health.status.jobs.receive.lastOutcome, 'success', 'the last poll found nothing');
    assert.equal(health.status.jobs.receive.lastSuccessAt, '2026-11-27T16:00:00.000Z');
  });

  it('/metrics gives the counters, gauges and durations in Prometheus format', async () => {
    const { status, type, text } = await get(`${http.url}/metrics`);
    assert.equal(status, 200);
    assert.match(type, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(text, 'bx_cards_sent_total{bureau="BUREAU01"}'), 3);
    assert.equal(sample(text, 'bx_files_sent_total{bureau="BUREAU01"}'), 1);
    assert.equal(sample(text, 'bx_contracts_invalid_total{bureau="BUREAU01"}'), 1);
    assert.equal(sample(text, 'bx_reports_applied_total{bureau="BUREAU01"}'), 1);
    assert.equal(sample(text, 'bx_reports_quarantined_total{bureau="BUREAU01"}'), 1);
    assert.equal(sample(text, 'bx_report_anomalies_total{bureau="BUREAU01"}'), 2);
    assert.equal(sample(text, 'bx_lease_held'), 1);
    assert.equal(sample(text, 'bx_key_days_to_expiry{purpose="bureau",fingerprint="ABCDEF0123456789"}'), 12);
    assert.equal(sample(text, 'bx_plastic_stock_below_minimum{product="CLASSIC01",bureau="BUREAU01"}'), 1);
    assert.equal(sample(text, 'bx_job_runs_total{job="send",bureau="BUREAU01",outcome="partial"}'), 1);
    assert.equal(sample(text, 'bx_job_duration_seconds_count{job="send",bureau="BUREAU01"}'), 1);
    assert.equal(sample(text, 'bx_job_last_success_timestamp_seconds{job="send",bureau="BUREAU01"}'), Date.parse('2026-11-27T16:00:00Z') / 1000);
    assert.ok(sample(text, 'process_resident_memory_bytes')! > 0);
  });

  it("/metrics shows the running job's progress while it runs, and no progress series once it ended", async () => {
    receiveJob.hold();
    const calls = receiveJob.calls.length;
    clock.advance(60 * 60_000);
    daemon.scheduler.tick();
    await waitFor('a receive run', () => receiveJob.calls.length > calls);
    const progress = receiveJob.calls[calls]!.progress!;
    progress.begin('receiving reports', 'reports', 5);
    progress.advance(2, 4096);
    const during = (await get(`${http.url}/metrics`)).text;
    const labels = '{job="receive",step="receiving reports",unit="reports"}';
    assert.deepEqual([sample(during, `bx_job_progress_done${labels}`), sample(during, `bx_job_progress_total${labels}`), sample(during, `bx_job_progress_bytes${labels}`)], [2, 5, 4096]);
    receiveJob.release();
    await daemon.scheduler.settled();
    assert.doesNotMatch((await get(`${http.url}/metrics`)).text, /^bx_job_progress_done\{/m);
  });

  it("alerted the quarantine, the keys within their bureau's warning days and the low stock, once each", async () => {
    await waitFor('alerts', () => alerts.length >= 4);
    const kinds = alerts.map((a) => a.kind).sort();
    assert.deepEqual(kinds, ['key-expiry', 'key-expiry', 'low-stock', 'quarantine']);
    const keys = alerts.filter((a) => a.kind === 'key-expiry').map((a) => a.message).sort();
    assert.match(keys[0], /bureau OpenPGP key ABCDEF0123456789 expires in 12 days/);
    assert.match(keys[1], /bureau OpenPGP key FEDCBA9876543210 .*expires in 40 days/);
    assert.match(alerts.find((a) => a.kind === 'low-stock').message, /CLASSIC01 is 50, below the minimum 100/);
  });

  it('a failed send is reported in the body, never a 503 (a restart would not bring the bureau back), and alerted', async () => {
    sendJob.fail = new Error('SFTP server refused the upload');
    clock.set('2026-11-30T16:00:00Z'); // Monday 17:00 Berlin
    daemon.scheduler.tick();
    await daemon.scheduler.settled();
    for (const path of ['/healthz', '/readyz']) {
      const { status, text } = await get(`${http.url}${path}`);
      assert.equal(status, 200, `${path}: ${text}`);
      const health = JSON.parse(text);
      assert.deepEqual(health.problems, []);
      assert.deepEqual(health.bureau, { reachable: false, problems: ['last send failed: SFTP server refused the upload'] });
    }
    await waitFor('failure alert', () => alerts.some((a) => a.kind === 'failure'));
    assert.match(alerts.find((a) => a.kind === 'failure').message, /send run \(cut-off 17:00\) for bureau BUREAU01 failed: SFTP server refused the upload/);
  });

  it('/livez answers 200 from the process alone', async () => {
    const { status, text } = await get(`${http.url}/livez`);
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(JSON.parse(text)).sort(), ['alive', 'pid', 'uptimeSeconds']);
  });

  it('unknown paths are 404', async () => {
    assert.equal((await get(`${http.url}/nope`)).status, 404);
  });
});

describe('daemon health when the database is gone', () => {
  it('/healthz and /readyz answer 503 naming the database; /livez 200', async () => {
    const database = await createTestDatabase('sqlite');
    const daemon = makeDaemon({
      db: database.db, config: testConfig(), log: silentLogger,
      jobs: { send: recordingSendJob(), receive: recordingReceiveJob() }, startTicker: () => ({ stop() {} }),
    });
    const http = await startHttpServer({ enabled: true, host: '127.0.0.1', port: 0 }, { health: () => daemon.health(), registry: daemon.metrics.registry, log: silentLogger });
    try {
      await database.drop();
      for (const path of ['/healthz', '/readyz']) {
        const { status, text } = await get(`${http.url}${path}`);
        assert.equal(status, 503, path);
        const health = JSON.parse(text);
        assert.equal(health.database.reachable, false);
        assert.match(health.problems[0], /^database unreachable/);
      }
      assert.equal((await get(`${http.url}/livez`)).status, 200, 'the process itself is alive');
    } finally {
      await http.close();
    }
  });
});
