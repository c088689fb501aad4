import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { quarantineReport } from '../../src/db/reports.js';
import { finishRun, startRun } from '../../src/db/runs.js';
import { registerSecret, silentLogger } from '../../src/log.js';
import { luhnValid } from '../../src/security/mask.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from '../daemon/fakes.js';

const PAN = '4111111111111111';
/** a secret the config loader registered (an SFTP password, a key passphrase) */
const SECRET = 'sftp-password-XYZ-served-test';

/** A Luhn-valid 16-digit PAN from 15 random digits. */
const anyPan = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 15, maxLength: 15 }).map((ds) => {
  const body = ds.join('');
  const check = [...'0123456789'].find((d) => luhnValid(body + d))!;
  return body + check;
});

describeEachDatabase('no full PAN nor a registered secret in any served text (probes, status page JSON)', (ctx) => {
  let daemon: Daemon;
  let http: HttpEndpoint;
  const send = recordingSendJob();
  const clock = manualClock('2026-11-27T15:00:00Z'); // Friday 16:00 Berlin, an hour before the cut-off

  before(async () => {
    registerSecret(SECRET);
    const { db } = ctx();
    const config = testConfig({ schedule: { catchUp: false }, http: { enabled: true, port: 0 } });
    daemon = makeDaemon({ db, config, log: silentLogger, clock, jobs: { send, receive: recordingReceiveJob() }, startTicker: () => ({ stop() {} }), owner: 'host-m:1:abcd' });
    daemon.start();
    await waitFor('active', () => daemon.status().role === 'active');
    await daemon.scheduler.settled();
    const data = makeStatusData({ db, config, health: () => daemon.health() });
    http = await startHttpServer(config.http, { health: () => daemon.health(), registry: daemon.metrics.registry, log: silentLogger, page: statusRoutes(data) });
  });
  after(async () => {
    await daemon?.stop('test over');
    await http?.close();
  });

  it('a send failing with a PAN and a secret in its error: /healthz, /readyz and /api/status mask both, as the run history does', async () => {
    // e.g. a driver's or a server's message quoting the value it choked on
    send.fail = new Error(`upload refused for record 3 (${PAN}) by sftp://bx:${SECRET}@bureau.example`);
    clock.set('2026-11-27T16:00:00Z'); // the 17:00 Berlin cut-off
    daemon.scheduler.tick();
    await daemon.scheduler.settled();
    assert.equal(daemon.status().jobs.send.lastOutcome, 'failure');
    for (const path of ['/healthz', '/readyz', '/api/status']) {
      const text = await (await fetch(`${http.url}${path}`)).text();
      assert.match(text, /upload refused for record 3/, `${path} tells the failure`);
      assert.ok(!text.includes(PAN), `${path} serves the full PAN: ${text}`);
      assert.ok(!text.includes(SECRET), `${path} serves a secret`);
      assert.match(text, /411111\*{6}1111/, `${path}: the PAN masked as everywhere else`);
    }
  });

  it('PAN-looking text from outside (report names, run file names) is masked in every JSON answer', async () => {
    const { db } = ctx();
    let n = 0;
    await fc.assert(fc.asyncProperty(anyPan, fc.constantFrom('', ' ', '-'), async (pan, sep) => {
      const shown = sep ? pan.replace(/(\d{4})(?=\d)/g, `$1${sep}`) : pan;
      n++;
      await quarantineReport(db, { remoteName: `REPORT_${shown}.xml`, sha256: n.toString(16).padStart(64, '0'), kind: 'rsa', localPath: '/x', error: 'not valid XML' });
      const id = await startRun(db, { job: 'receive', trigger: 'manual', reason: 'test', runner: 'host-m:1:abcd', startedAt: new Date().toISOString() });
      await finishRun(db, id, { outcome: 'partial', finishedAt: new Date().toISOString(), durationMs: 1, fileNames: [`REPORT_${shown}.xml`] });
      for (const path of ['/api/status', '/api/runs?limit=1']) {
        const text = await (await fetch(`${http.url}${path}`)).text();
        assert.match(text, /REPORT_/, path);
        assert.ok(!text.includes(shown), `${path} serves the full PAN ${shown}`);
        JSON.parse(text);
      }
    }), { numRuns: 10 });
  });
});
