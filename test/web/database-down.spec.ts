import assert from 'node:assert/strict';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { silentLogger } from '../../src/log.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { recordingReceiveJob, recordingSendJob } from '../daemon/fakes.js';
import { launchChromium } from './chromium.js';


describeEachDatabase('status page and probes with the database down', (ctx) => {
  let down: Db;
  let daemon: Daemon;
  let http: HttpEndpoint;

  before(async () => {
    const { database, dialect } = ctx();
    // a server that refuses the connection (nothing listens on port 1); SQLite: a handle closed under it
    down = openDatabase({ database: dialect === 'sqlite' ? database : { ...database, url: database.url!.replace(/:\d+\//, ':1/') } });
    if (dialect === 'sqlite') await down.destroy();
    const config = testConfig({ http: { enabled: true, port: 0 } });
    daemon = makeDaemon({ db: down, config, log: silentLogger, jobs: { send: recordingSendJob(), receive: recordingReceiveJob() }, startTicker: () => ({ stop() {} }) });
    const data = makeStatusData({ db: down, config, health: () => daemon.health() });
    http = await startHttpServer(config.http, { health: () => daemon.health(), registry: daemon.metrics.registry, log: silentLogger, page: statusRoutes(data) });
  });
  after(async () => {
    await http?.close();
    if (ctx().dialect !== 'sqlite') await down?.destroy();
  });

  it('/api/* answer 503 saying the database does not answer; /readyz and /healthz 503, /livez 200; the page itself is served', async () => {
    for (const path of ['/api/status', '/api/runs', '/api/cards-per-day', '/api/stock']) {
      const res = await fetch(`${http.url}${path}`);
      assert.equal(res.status, 503, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.match((await res.json()).error, /^the database does not answer: ./, path);
    }
    for (const path of ['/readyz', '/healthz']) assert.equal((await fetch(`${http.url}${path}`)).status, 503, path);
    assert.equal((await fetch(`${http.url}/livez`)).status, 200, 'the process lives: a restart would not bring the database back');
    assert.equal((await fetch(`${http.url}/`)).status, 200);
  });

  it('in Chromium the page says the database does not answer', async function () {
    this.timeout(60_000);
    const browser = await launchChromium(this);
    try {
      const page = await browser.newPage();
      await page.goto(`${http.url}/`);
      await page.waitForSelector('#error:not([hidden])', { timeout: 30_000 });
      assert.match(await page.textContent('#error') ?? '', /the database does not answer/);
      assert.equal(await page.getAttribute('#error', 'role'), 'alert', 'a screen reader announces it');
    } finally {
      await browser.close();
    }
  });
});
