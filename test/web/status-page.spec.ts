import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { silentLogger } from '../../src/log.js';
import { startSandbox } from '../../src/sandbox/serve.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import { makeProductionJobs } from '../../src/wiring.js';
import { requireOrSkip } from '../helpers/ci.js';
import { waitFor } from '../helpers/wait.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';
import { exchangeThroughSandbox, type Exchanged } from './sandbox-exchange.js';

const SCREENSHOTS = join(PROJECT_ROOT, 'artifacts', 'screenshots');
const TOKEN = 'browser-test-token-0123456789abcdef';

/** The text of every cell of a table's body, row by row. */
function tableText(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} tbody tr`, (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));
}

describe('status page in a real browser (Chromium), after a real send and receive through the sandbox', function () {
  this.timeout(300_000);
  let base: string;
  let ex: Exchanged;
  let db: Db;
  let daemon: Daemon | undefined;
  let http: HttpEndpoint | undefined;
  let sandbox: Awaited<ReturnType<typeof startSandbox>> | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  const cspViolations: string[] = [];

  before(async function () {
    requireOrSkip(this, existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set BX_CHROMIUM)`);
    base = mkdtempSync(join(tmpdir(), 'bx-page-'));
    ex = await exchangeThroughSandbox(join(base, 'sbx'), 60);
    db = openDatabase(ex.config);
    // the daemon as it runs in production (real jobs over SFTP, the sandbox answering), minus its timer
    sandbox = await startSandbox(ex.config, { log: silentLogger, poll: false });
    const app = { config: ex.config, db, log: silentLogger, cipher: new PanCipher(Buffer.from(ex.env.BX_PAN_KEY!, 'base64')) };
    const config = { ...ex.config, schedule: { ...ex.config.schedule, catchUp: false } };
    daemon = makeDaemon({ db, config, log: silentLogger, jobs: makeProductionJobs(app), startTicker: () => ({ stop() {} }) });
    daemon.start();
    await waitFor('the daemon active', () => daemon!.status().role === 'active');
    await daemon.scheduler.settled();
    const data = makeStatusData({ db, config, health: () => daemon!.health(), command: `bureau-exchange --config ${ex.sandbox.configFile}` });
    http = await startHttpServer({ enabled: true, host: '127.0.0.1', port: 0 }, { health: () => daemon!.health(), registry: daemon.metrics.registry, log: silentLogger, page: statusRoutes(data, { token: TOKEN }) });

    context = await chromium.launchPersistentContext(join(base, 'chromium-profile'), {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 }, locale: 'en-US',
      // the token as a reverse proxy would add it (a browser cannot add it to a navigation itself)
      extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text()); });
    await page.goto(`${http.url}/`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
  });

  after(async () => {
    await context?.close();
    await http?.close();
    await daemon?.stop('test over');
    await sandbox?.close();
    await db?.destroy();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('shows the cards per business day the database holds, and draws them', async () => {
    const rows: Array<{ business_date: string; state: string; batch_id: number; card_batch: number | null; production_status: string }> = await db('batch_items as i')
      .join('perso_batches as b', 'b.id', 'i.batch_id').join('card_contracts as c', 'c.id', 'i.contract_id')
      .select('b.business_date', 'b.state', 'b.id as batch_id', 'c.batch_id as card_batch', 'c.production_status');
    const byDate = new Map<string, number[]>();
    for (const r of rows) {
      const counts = byDate.get(r.business_date) ?? [0, 0, 0, 0, 0];
      const own = Number(r.card_batch) === Number(r.batch_id);
      counts[0]!++;
      if (r.state !== 'sent') counts[1]!++;
      else if (own && r.production_status === 'InProduction') counts[2]!++;
      else if (own && r.production_status === 'Shipped') counts[3]!++;
      else counts[4]!++;
      byDate.set(r.business_date, counts);
    }
    const expected = [...byDate].sort().map(([date, c]) => [date, ...c.map(String)]);
    assert.ok(expected.length > 0 && rows.length > 0);
    assert.deepEqual(await tableText(page, 'cards-table'), expected.map(([date, ...counts]) => [date, ...counts.map((n) => Number(n).toLocaleString('en-US'))]));
    const [{ n: marked }] = await db('card_contracts').where({ production_status: 'Marked' }).count({ n: '*' });
    assert.equal(await page.textContent('#waiting'), Number(marked).toLocaleString('en-US'));
    const drawn = await page.$$eval('canvas', (canvases) => canvases.map((c) => Boolean((window as any).Chart?.getChart(c))));
    assert.deepEqual(drawn, [true, true], 'both charts drawn by chart.js');
  });

  it('shows every run of the history, the last first, with its outcome', async () => {
    const runs: Array<{ job: string; trigger: string; outcome: string; cards_sent: number; invalid: number; reports_applied: number }> = await db('job_runs').orderBy('id', 'desc').limit(20);
    assert.ok(runs.length >= 3, 'send and receive by hand, and the daemon\'s receive at start');
    const shown = await tableText(page, 'runs');
    assert.deepEqual(shown.map((r) => [r[0], r[1], r[5]]), runs.map((r) => [r.job, r.trigger, r.outcome]));
    const send = runs.find((r) => r.job === 'send')!;
    assert.ok(send.cards_sent > 0);
    assert.ok(shown.some((r) => r[0] === 'send' && r[6] === `${send.cards_sent.toLocaleString('en-US')} sent, ${send.invalid} Invalid`), JSON.stringify(shown));
  });

  it('shows the active runner, stock, rejection reasons and no unfinished batch, as in the database', async () => {
    const lease = await db('leases').where({ name: 'daemon' }).first();
    assert.equal(await page.textContent('#active-runner'), lease.owner);
    const stock: Array<{ product_code: string; closing: number; min_stock: number }> = await db('plastic_stock').orderBy('product_code');
    assert.ok(stock.length > 0, 'the report carried stock levels');
    // the first column is the bureau: the first bureau's stock rows carry no code, and show its own
    const bureau = ex.config.bureaus[0]!.code;
    assert.deepEqual((await tableText(page, 'stock')).map((r) => r.slice(0, 4)), stock.map((s) => [bureau, s.product_code, Number(s.closing).toLocaleString('en-US'), Number(s.min_stock).toLocaleString('en-US')]));
    // every level a report gave is kept for the trend: here one report, so one point per product
    const history: Array<{ product_code: string; closing: number }> = await db('plastic_stock_history').orderBy('product_code');
    assert.deepEqual(history.map((h) => [h.product_code, Number(h.closing)]), stock.map((s) => [s.product_code, Number(s.closing)]));
    const trend = await page.evaluate(() => (window as any).Chart.getChart(document.getElementById('stock-chart')).data.datasets
      .filter((d: any) => d.label.endsWith(' closing')).map((d: any) => [d.label.replace(' closing', ''), d.data.filter((v: unknown) => v !== null)]));
    assert.deepEqual(trend, stock.map((s) => [`${bureau} ${s.product_code}`, [Number(s.closing)]]));
    const reasons: Array<{ production_status: string; reject_code: string; n: number }> = await db('card_contracts')
      .whereIn('production_status', ['Rejected', 'Invalid']).groupBy('production_status', 'reject_code').select('production_status', 'reject_code').count({ n: '*' });
    const shownReasons = (await tableText(page, 'rejections')).map((r) => r.slice(0, 3).join('|')).sort();
    assert.deepEqual(shownReasons, reasons.map((r) => `${r.production_status}|${r.reject_code}|${Number(r.n).toLocaleString('en-US')}`).sort());
    assert.deepEqual(await tableText(page, 'batches'), [['none: every batch reached the bureau']]);
    assert.equal(await page.textContent('#next-cutoff'), await page.evaluate(async () => {
      const s = await (await fetch('/api/status')).json();
      return `${s.schedule.nextCutOff.businessDate} ${s.schedule.nextCutOff.time}`;
    }));
  });

  it('shows one row per bureau: its cut-offs, next cut-off, last send and unsent batches, as in the database', async () => {
    const [lastSend] = await db('job_runs').where({ job: 'send' }).orderBy('id', 'desc').limit(1);
    const [{ n: unsent }] = await db('perso_batches').whereNot({ state: 'sent' }).count({ n: '*' });
    const api = await page.evaluate(async () => (await (await fetch('/api/status')).json()).bureaus);
    assert.equal(api.length, ex.config.bureaus.length);
    const rows = await tableText(page, 'bureaus');
    assert.deepEqual(rows.map((r) => [r[0], r[1], r[2], r[3], r[5], r[6]]), ex.config.bureaus.map((b, i) => [
      b.code, b.name, [...b.sendAt].sort().join(' '), `${api[i].nextCutOff.businessDate} ${api[i].nextCutOff.time}`, lastSend.outcome, Number(unsent).toLocaleString('en-US'),
    ]));
  });

  it('breaks no Content Security Policy rule and shows no full PAN', async () => {
    assert.deepEqual(cspViolations, []);
    const cipher = new PanCipher(Buffer.from(ex.env.BX_PAN_KEY!, 'base64'));
    const cards: Array<{ contract_number: string; plastic_id: string; pan_enc: string; pan_last4: string }> = await db('card_contracts').select('contract_number', 'plastic_id', 'pan_enc', 'pan_last4');
    const html = await page.content();
    for (const c of cards) {
      const pan = cipher.decrypt(c.pan_enc, { contractNumber: c.contract_number, plasticId: c.plastic_id, panLast4: c.pan_last4 });
      assert.ok(!html.includes(pan), `the PAN of contract ${c.contract_number} is on the page`);
    }
  });

  it('saves screenshots of the page', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const full = join(SCREENSHOTS, 'status-page.png');
    const top = join(SCREENSHOTS, 'status-page-top.png');
    await page.screenshot({ path: full, fullPage: true });
    await page.screenshot({ path: top });
    for (const file of [full, top]) {
      assert.ok(existsSync(file));
      console.log(`      screenshot: ${relative(process.cwd(), file)}`);
    }
  });
});
