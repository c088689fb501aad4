import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { Registry } from 'prom-client';
import { configSchema } from '../../src/config/schema.js';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { silentLogger } from '../../src/log.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import { describeEachDatabase } from '../helpers/db.js';
import { launchChromium } from './chromium.js';


/** BUREAU01 sends at 17:00 Berlin; EMB01 at 11:00 has never sent. */
const config = configSchema.parse({
  issuer: { code: 'BXISSUER' },
  schedule: { timezone: 'Europe/Berlin', sendAt: ['17:00'] },
  calendar: { holidays: 'DE' },
  bureaus: [{ code: 'BUREAU01', name: 'Processor' }, { code: 'EMB01', name: 'Embosser', sendAt: ['11:00'] }],
  routing: { default: 'BUREAU01' },
  http: { enabled: true, port: 0 },
});
const NOW = new Date('2026-11-27T15:00:00Z'); // Friday 16:00 Berlin (UTC+1)

/** The text of every cell of a table's body, row by row. */
function tableText(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} tbody tr`, (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
}

// what the browser makes of the JSON: one database is enough (the JSON per database is tested elsewhere)
describeEachDatabase('the status page as read: times in the schedule zone, large counts, long runs, without JavaScript', (ctx) => {
  let http: HttpEndpoint;
  let browser: Browser | undefined;

  before(async function () {
    browser = await launchChromium(this);
    const { db } = ctx();
    // a send of a million cards that ran from Tuesday 16:59:58 to Friday 15:00:00 Berlin, and its batch's file retried
    await db('job_runs').insert({
      job: 'send', trigger: 'schedule', reason: 'cut-off 17:00', runner: 'bx1:1:a', started_at: '2026-11-24T15:59:58.000Z', finished_at: '2026-11-27T14:00:00.000Z',
      outcome: 'failed', duration_ms: Date.parse('2026-11-27T14:00:00Z') - Date.parse('2026-11-24T15:59:58Z'), cards_sent: 1_000_000, invalid: 12_345, files: 1, error: 'upload refused',
    });
    await db('perso_batches').insert({
      bureau_code: 'BUREAU01', business_date: '2026-11-24', sequence: 2, file_name: 'BXISSUER_PERSO_20261124_000002.dat.pgp', state: 'uploaded', record_count: 1_000_000,
      attempts: 3, last_error: 'upload refused', created_at: '2026-11-24T15:59:58.000Z', updated_at: '2026-11-27T14:00:00.000Z',
    });
    const data = makeStatusData({ db, config, clock: () => NOW });
    http = await startHttpServer(config.http, { health: async () => { throw new Error('not asked'); }, registry: new Registry(), log: silentLogger, page: statusRoutes(data) });
  });
  after(async () => {
    await browser?.close();
    await http?.close();
  });

  it('shows every time in the schedule zone, named once; a million as 1,000,000; a run of days as days', async function () {
    this.timeout(60_000);
    const context = await browser!.newContext({ locale: 'en-US', timezoneId: 'America/New_York' }); // the operator's own zone is neither
    try {
      const page = await context.newPage();
      await page.goto(`${http.url}/`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
      assert.equal(await page.textContent('#generated'), 'as of 2026-11-27 16:00:00 · times in Europe/Berlin (GMT+01:00)');
      assert.equal(await page.textContent('#next-cutoff'), '2026-11-27 17:00');
      assert.equal(await page.textContent('#next-cutoff-note'), 'in 1 h 0 min · BUREAU01 · receive every 15 min');
      const bureaus = await tableText(page, 'bureaus');
      // the next cut-off and the last send side by side, in the same zone
      assert.deepEqual(bureaus.map((r) => [r[0], r[3], r[4], r[5]]), [
        ['BUREAU01', '2026-11-27 17:00', '2026-11-24 16:59:58', 'failed'],
        ['EMB01', '2026-11-30 11:00', '', 'no send yet'],
      ]);
      const [run] = await tableText(page, 'runs');
      assert.deepEqual(run!.slice(2, 7), ['2026-11-24 16:59:58', '2026-11-27 15:00:00', '2 d 22 h', 'failed', '1,000,000 sent, 12,345 Invalid']);
      const [batch] = await tableText(page, 'batches');
      assert.deepEqual(batch!.slice(4, 6), ['1,000,000', '3']);
    } finally {
      await context.close();
    }
  });

  it('without JavaScript: the alerts firing are on the page as served, and it says the rest needs JavaScript', async function () {
    this.timeout(60_000);
    const context = await browser!.newContext({ javaScriptEnabled: false });
    try {
      const page = await context.newPage();
      await page.goto(`${http.url}/`);
      const alerts = await page.$$eval('#alerts li', (items) => items.map((li) => [li.className, li.textContent]));
      assert.deepEqual(alerts, [['critical', 'failure: last send run for bureau BUREAU01 failed: upload refused']]);
      assert.equal(await page.textContent('#generated'), 'as of 2026-11-27 15:00:00 UTC');
      assert.match(await page.textContent('noscript') ?? '', /the tables and charts need JavaScript/);
      // a screen reader: the list is named by its heading and announces changes; each chart is an image with words
      assert.equal(await page.getAttribute('#alerts', 'aria-live'), 'polite');
      assert.deepEqual(await page.$$eval('canvas', (cs) => cs.map((c) => [c.getAttribute('role'), Boolean(c.getAttribute('aria-label'))])), [['img', true], ['img', true]]);
    } finally {
      await context.close();
    }
  });
}, ['sqlite']);
