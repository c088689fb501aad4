import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { configSchema } from '../../src/config/schema.js';
import { makeAlerter } from '../../src/daemon/alerts.js';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { recordingSendJob } from '../daemon/fakes.js';
import { header, reportName, shipment, xmlOf } from './fixtures.js';
import { startReceiveBench, type ReceiveBench } from './harness.js';
import { contractOf, seedBatch } from './seed.js';

/**
 * A receive run past its time limit, in the daemon: the run fails naming the limit, the failure
 * alert goes out through the webhook, the metrics count a failed run, and the lease is free for the
 * next run, which applies the report.
 */
describeEachDatabase('inbound/receive time limit in the daemon', (ctx) => {
  let bench: ReceiveBench;
  let workDir: string;
  let hook: Server;
  let daemon: Daemon | undefined;
  const alerts: Array<{ kind: string; message: string; severity: string }> = [];

  before(async function () {
    this.timeout(60_000);
    bench = await startReceiveBench(this);
    workDir = mkdtempSync(join(tmpdir(), 'bx-limit-work-'));
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d)).on('end', () => { alerts.push(JSON.parse(body)); res.end(); });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await daemon?.stop('test over');
    await new Promise((r) => hook?.close(r));
    await bench?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('fails the run naming the limit, alerts, counts it, and the next run applies the report', async function () {
    this.timeout(120_000);
    const { db } = ctx();
    const batch = await seedBatch(db, [7001]);
    const name = reportName();
    bench.bureau.put(name, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(7001, { shipped: '2026-11-26' })] })), bench.ours.publicPem));
    const base = bench.config(workDir, { reportTimeLimitSeconds: 1, runTimeLimitSeconds: 5 });
    const config = testConfig({
      ...base, schedule: { catchUp: false, receiveEveryMinutes: 15 },
      alerts: { webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/`, retries: 0 },
    });
    // the first run's apply is stuck past the limit; the hook tells when that abandoned apply goes on
    let abandonedGoesOn!: () => void;
    const abandonedWentOn = new Promise<void>((resolve) => (abandonedGoesOn = resolve));
    const receive = makeReceiveJob({
      db, config, log: bench.log, transport: bench.transport(config),
      hooks: { afterApplyGroup: async () => { await sleep(2500); abandonedGoesOn(); } },
    });
    daemon = makeDaemon({
      db, config, log: bench.log, jobs: { send: recordingSendJob(), receive },
      alerter: makeAlerter(config.alerts, { log: bench.log }), startTicker: () => ({ stop() {} }),
    });
    daemon.start();
    const deadline = Date.now() + 30_000;
    while (daemon.status().jobs.receive.lastOutcome === null && Date.now() < deadline) await sleep(100);
    await daemon.scheduler.settled();
    const receiveStatus = daemon.status().jobs.receive;
    assert.equal(receiveStatus.lastOutcome, 'failure');
    assert.match(String(receiveStatus.lastError), /exceeded its time limit of 1 s \(reports\.reportTimeLimitSeconds\)/);
    while (!alerts.some((a) => a.kind === 'failure') && Date.now() < deadline) await sleep(50);
    const alert = alerts.find((a) => a.kind === 'failure');
    assert.ok(alert, 'a failure alert was posted');
    assert.equal(alert.severity, 'critical');
    assert.match(alert.message, /receive run .* failed: report .* exceeded its time limit of 1 s \(reports\.reportTimeLimitSeconds\)/);
    const metrics = await daemon.metrics.registry.metrics();
    assert.match(metrics, /bx_job_runs_total\{job="receive",outcome="failure"\} 1/);
    await abandonedWentOn; // past its stuck step, the abandoned apply sees the abort and rolls back
    assert.equal((await contractOf(db, 7001)).production_status, 'InProduction', 'nothing of it was applied');
    assert.deepEqual(bench.bureau.files(), [name]);

    // the next run, with room to wait for the abandoned transaction (a loaded machine may take seconds);
    // it applies the report, which it could not if the abandoned apply had committed (same content hash)
    const roomy = { ...config, reports: { ...config.reports, reportTimeLimitSeconds: 600, runTimeLimitSeconds: 1200 } };
    const result = await makeReceiveJob({ db, config: roomy, log: bench.log, transport: bench.transport(roomy) }).run();
    assert.deepEqual(result.applied.map((r) => r.remoteName), [name]);
    assert.equal((await contractOf(db, 7001)).production_status, 'Shipped');
  });
}, ['sqlite']);

describe('inbound/receive time-limit config keys', () => {
  const parse = (reports: Record<string, unknown>) => configSchema.safeParse({ issuer: { code: 'BXISSUER' }, bureau: { code: 'BUREAU01' }, reports });
  it('default to 20 and 10 minutes, and refuse zero, negative, over a day, or a report limit above the run limit', () => {
    const ok = parse({});
    assert.ok(ok.success);
    assert.deepEqual([ok.data.reports.runTimeLimitSeconds, ok.data.reports.reportTimeLimitSeconds], [1200, 600]);
    for (const bad of [{ runTimeLimitSeconds: 0 }, { reportTimeLimitSeconds: -1 }, { runTimeLimitSeconds: 90_000 }, { runTimeLimitSeconds: 60, reportTimeLimitSeconds: 120 }]) {
      const r = parse(bad);
      assert.equal(r.success, false, JSON.stringify(bad));
      assert.ok(r.error!.issues.some((i) => /TimeLimitSeconds$/.test(String(i.path.at(-1)))), JSON.stringify(r.error!.issues));
    }
  });
});

