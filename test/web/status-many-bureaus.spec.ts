import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { configSchema } from '../../src/config/schema.js';
import { startHttpServer } from '../../src/daemon/http.js';
import { finishRun, startRun } from '../../src/db/runs.js';
import { silentLogger } from '../../src/log.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import { describeEachDatabase } from '../helpers/db.js';
import { launchChromium } from './chromium.js';


/** 500 bureaus: the first sends at 17:00, the others at 11:00 and 15:30, every tenth at 09:15 too. */
const CODES = Array.from({ length: 500 }, (_, i) => `B${String(i).padStart(3, '0')}`);
const config = configSchema.parse({
  issuer: { code: 'BXISSUER' },
  schedule: { timezone: 'Europe/Berlin', sendAt: ['17:00'] },
  calendar: { holidays: 'DE' },
  bureaus: CODES.map((code, i) => ({ code, name: `Bureau ${code}`, ...(i ? { sendAt: i % 10 ? ['15:30', '11:00'] : ['09:15', '11:00', '15:30'] } : {}) })),
  routing: { default: 'B000' },
  http: { enabled: true, port: 0 },
});
const jobOf = (code: string) => (code === 'B000' ? 'send' : `send:${code}`);

describeEachDatabase('status page with 500 bureaus: one query for their last sends, one computation per set of cut-off times', (ctx) => {
  before(async () => {
    const { db } = ctx();
    // two sends of every other bureau: the later one is its last; the odd bureaus have never sent
    for (const [n, at] of [[1, '2026-11-25T10:00:00.000Z'], [2, '2026-11-26T10:00:00.000Z']] as const) {
      for (const code of CODES.filter((_, i) => i % 2 === 0)) {
        const id = await startRun(db, { job: jobOf(code), trigger: 'schedule', reason: `send ${n}`, runner: 'host:1:a', startedAt: at });
        await finishRun(db, id, { outcome: n === 2 && code === 'B010' ? 'failed' : 'ok', finishedAt: at, durationMs: 1 });
      }
    }
  });

  it('answers in a few statements, fast, with each bureau its own last send and next cut-off', async function () {
    this.timeout(30_000);
    const { db } = ctx();
    const statements: string[] = [];
    const onQuery = (q: { sql: string }) => statements.push(q.sql);
    db.on('query', onQuery);
    const data = makeStatusData({ db, config, clock: () => new Date('2026-11-26T08:00:00Z') }); // Thursday 09:00 Berlin
    const started = performance.now();
    const s = await data.status().finally(() => db.removeListener('query', onQuery));
    const ms = performance.now() - started;
    // one statement per bureau made 500 round trips; each bureau's month of slots took 5–7 s on SQLite
    assert.ok(statements.filter((q) => /job_runs/.test(q)).length <= 3, `${statements.filter((q) => /job_runs/.test(q)).length} statements on job_runs`);
    assert.ok(ms < 3000, `${Math.round(ms)} ms for the status of 500 bureaus`);
    assert.equal(s.bureaus.length, 500);
    for (const [i, b] of s.bureaus.entries()) {
      assert.equal(b.code, CODES[i]);
      assert.equal(b.lastSend?.reason ?? null, i % 2 === 0 ? 'send 2' : null, b.code);
      assert.equal(b.nextCutOff?.bureau, b.code);
      assert.equal(b.nextCutOff?.time, i === 0 ? '17:00' : i % 10 ? '11:00' : '09:15', b.code);
      assert.equal(b.nextCutOff?.businessDate, '2026-11-26');
    }
    assert.equal(s.bureaus[10]!.lastSend?.outcome, 'failed');
    assert.ok(s.alerts.some((a) => a.kind === 'failure' && /bureau B010/.test(a.message)));
  });

  it('in Chromium: every bureau listed, in a region that scrolls by itself: the runs are still near the top of the page', async function () {
    this.timeout(60_000);
    const data = makeStatusData({ db: ctx().db, config, clock: () => new Date('2026-11-26T08:00:00Z') });
    const http = await startHttpServer(config.http, { health: async () => { throw new Error('not asked'); }, registry: new Registry(), log: silentLogger, page: statusRoutes(data) });
    const browser = await launchChromium(this);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${http.url}/`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
      assert.equal(await page.$$eval('#bureaus tbody tr', (rows) => rows.length), 500);
      // 500 rows of 30 px pushed the runs 15,000 px down the page
      const runsTop = await page.$eval('#runs', (t) => t.getBoundingClientRect().top + window.scrollY);
      assert.ok(runsTop < 3 * 900, `the runs table starts ${Math.round(runsTop)} px down the page`);
      // the region is reachable by keyboard and named for a screen reader
      assert.deepEqual(await page.$eval('#bureaus', (t) => [t.parentElement!.tabIndex, t.parentElement!.getAttribute('role'), t.parentElement!.getAttribute('aria-labelledby')]), [0, 'region', 'bureaus-title']);
    } finally {
      await browser.close();
      await http.close();
    }
  });
});
