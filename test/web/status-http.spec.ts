import assert from 'node:assert/strict';
import { request } from 'node:http';
import { makeDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { insertReturningId } from '../../src/db/connection.js';
import { startRun } from '../../src/db/runs.js';
import { upsertContract } from '../../src/db/contracts.js';
import { quarantineReport } from '../../src/db/reports.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { SECURITY_HEADERS, statusRoutes, statusTokenFromEnv } from '../../src/web/status-routes.js';
import { makeCard } from '../helpers/cards.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { recordingReceiveJob, recordingSendJob } from '../daemon/fakes.js';

const TOKEN = 'a-token-long-enough-0123456789';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    }).on('error', reject).end();
  });
}

describeEachDatabase('status page over HTTP', (ctx) => {
  const cipher = new PanCipher(newPanKey());
  const pans: string[] = [];
  let daemon: Daemon;
  let open: HttpEndpoint;
  let guarded: HttpEndpoint;

  /** Cards 1–6 in a sent batch of 2026-11-30 (2 shipped, 1 rejected, 3 in production), 7–8 in an unsent one of 2026-12-01, 9 Marked, 10 Invalid. */
  async function seed(): Promise<void> {
    const { db } = ctx();
    const now = new Date().toISOString();
    const ids: number[] = [];
    await db.transaction(async (trx) => {
      for (let n = 1; n <= 10; n++) {
        const card = makeCard(n);
        pans.push(card.pan);
        const out = await upsertContract(trx, card, 'Marked', cipher);
        assert.ok(out.kind === 'inserted');
        ids.push(out.id);
      }
    });
    const batch = (date: string, seq: number, state: string) => insertReturningId(db, 'perso_batches', {
      business_date: date, sequence: seq, file_name: `BXISSUER_PERSO_${date.replaceAll('-', '')}_00000${seq}.dat.pgp`, state, record_count: 0,
      created_at: now, updated_at: now, sent_at: state === 'sent' ? now : null,
    });
    const sent = await batch('2026-11-30', 1, 'sent');
    const unsent = await batch('2026-12-01', 1, 'encrypted');
    for (let i = 0; i < 8; i++) await db('batch_items').insert({ batch_id: i < 6 ? sent : unsent, record_number: i + 1, contract_id: ids[i] });
    const set = (i: number, row: Record<string, unknown>) => db('card_contracts').where({ id: ids[i] }).update(row);
    for (let i = 0; i < 6; i++) await set(i, { batch_id: sent, production_status: 'InProduction' });
    await set(0, { production_status: 'Shipped', ship_date: '2026-12-01' });
    await set(1, { production_status: 'Shipped', expected_ship_date: '2026-12-04' });
    await set(2, { production_status: 'Rejected', reject_code: 'E12', reject_reason: 'address incomplete' });
    await set(9, { production_status: 'Invalid', reject_code: 'INVALID', reject_reason: `record 10: field pan ${pans[9]!.slice(0, 6)}******${pans[9]!.slice(-4)} fails Luhn` });
    await quarantineReport(db, { remoteName: 'BXISSUER_REPORT_20261130_000001.xml.rsa', sha256: 'f'.repeat(64), kind: 'rsa', localPath: '/x', error: 'record 3: field Code: empty' });
    const report = await insertReturningId(db, 'bureau_reports', { remote_name: 'R.xml.rsa', sha256: 'e'.repeat(64), kind: 'rsa', state: 'applied', report_date: '2026-11-30', created_at: now, updated_at: now });
    for (const [date, closing] of [['2026-11-28', 400], ['2026-11-30', 80]] as const) {
      await db('plastic_stock_history').insert({ product_code: 'CLASSIC01', report_id: report, report_date: date, closing, min_stock: 100, recorded_at: now });
    }
    await db('plastic_stock').insert({ product_code: 'CLASSIC01', opening: 400, received: 0, used: 320, spoiled: 0, closing: 80, min_stock: 100, low: true, report_id: report, report_date: '2026-11-30', updated_at: now });
  }

  before(async () => {
    await seed();
    const { db } = ctx();
    const config = testConfig({ schedule: { catchUp: false, sendAt: ['16:00'] }, http: { enabled: true, port: 0 } });
    daemon = makeDaemon({ db, config, log: silentLogger, jobs: { send: recordingSendJob(), receive: recordingReceiveJob() }, startTicker: () => ({ stop() {} }), owner: 'host-t:1:abcd' });
    daemon.start();
    await waitFor('active', () => daemon.status().role === 'active');
    await daemon.scheduler.settled();
    const data = makeStatusData({ db, config, health: () => daemon.health() });
    open = await startHttpServer(config.http, { health: () => daemon.health(), registry: daemon.metrics.registry, log: silentLogger, page: statusRoutes(data) });
    guarded = await startHttpServer(config.http, { health: () => daemon.health(), registry: daemon.metrics.registry, log: silentLogger, page: statusRoutes(data, { token: TOKEN }) });
  });
  after(async () => {
    await daemon?.stop('test over');
    await open?.close();
    await guarded?.close();
  });

  it('serves the page with strict security headers: no inline script or style, no framing, no cache, no referrer', async () => {
    const page = await get(`${open.url}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) assert.equal(page.headers[name], value, name);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(page.text, /<script>|<style|\sstyle=|\son\w+=|https?:\/\//, 'no inline script or style, nothing from another origin');
    for (const path of ['/static/status.js', '/static/status.css', '/vendor/chart.umd.min.js']) {
      const r = await get(`${open.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    assert.equal((await get(`${open.url}/static/../../package.json`)).status, 404);
    assert.equal((await get(`${open.url}/static/%2e%2e/status-routes.ts`)).status, 404);
  });

  it('/api/status: schedule, runners, unfinished batches, rejections, quarantine with its requeue command, stock, alerts', async () => {
    const { db } = ctx();
    const r = await get(`${open.url}/api/status`);
    assert.equal(r.status, 200);
    const s = JSON.parse(r.text);
    assert.equal(s.runners.active, 'host-t:1:abcd');
    await waitFor('presence written', async () => JSON.parse((await get(`${open.url}/api/status`)).text).runners.present.length === 1);
    assert.match(s.schedule.nextCutOff.time, /^16:00$/);
    assert.deepEqual(s.unfinishedBatches.map((b: any) => [b.fileName, b.state]), [['BXISSUER_PERSO_20261201_000001.dat.pgp', 'encrypted']]);
    assert.deepEqual(s.rejections.map((x: any) => [x.status, x.code, x.cards]).sort(), [['Invalid', 'INVALID', 1], ['Rejected', 'E12', 1]]);
    const q = await db('bureau_reports').where({ state: 'quarantined' }).first('id');
    assert.deepEqual(s.quarantined.map((x: any) => [x.id, x.requeue]), [[Number(q.id), `bureau-exchange receive --requeue ${q.id}`]]);
    assert.deepEqual(s.stock, [{ bureauCode: 'BUREAU01', productCode: 'CLASSIC01', closing: 80, minStock: 100, low: true, reportDate: '2026-11-30' }]);
    assert.deepEqual(s.alerts.map((a: any) => a.kind).sort(), ['low-stock', 'quarantine']);
    // as the webhook's quarantine alert: a report's rejections and shipments are not applied
    assert.equal(s.alerts.find((a: any) => a.kind === 'quarantine').severity, 'critical');
    assert.equal(s.contracts.Marked, 3, 'card 9 and the two in the unsent batch');
  });

  it('/api/cards-per-day and /api/stock give the numbers the database holds', async () => {
    const cards = JSON.parse((await get(`${open.url}/api/cards-per-day`)).text);
    assert.equal(cards.waiting, 1);
    assert.deepEqual(cards.days, [
      { businessDate: '2026-11-30', claimed: 6, sending: 0, inProduction: 3, shipped: 2, rejected: 1 },
      { businessDate: '2026-12-01', claimed: 2, sending: 2, inProduction: 0, shipped: 0, rejected: 0 },
    ]);
    const stock = JSON.parse((await get(`${open.url}/api/stock?days=3660`)).text);
    assert.deepEqual(stock.history.map((p: any) => [p.reportDate, p.closing, p.minStock]), [['2026-11-28', 400, 100], ['2026-11-30', 80, 100]]);
    const runs = await get(`${open.url}/api/runs?job=bogus`);
    assert.equal(runs.status, 400);
    // another bureau's receive runs are named receive:<CODE> in the history, and can be asked for so
    const { db } = ctx();
    await startRun(db, { job: 'receive:EMB01', trigger: 'manual', reason: 'test', runner: 'host-t:1:abcd', startedAt: '2026-12-01T08:00:00.000Z' });
    const emb = await get(`${open.url}/api/runs?job=receive:EMB01`);
    assert.equal(emb.status, 200);
    assert.deepEqual(JSON.parse(emb.text).map((r: any) => r.job), ['receive:EMB01']);
    assert.equal((await get(`${open.url}/api/runs?job=receive:emb01`)).status, 400);
    assert.equal((await get(`${open.url}/api/nothing`)).status, 404);
  });

  it('no full PAN in any answer', async () => {
    for (const path of ['/api/status', '/api/runs', '/api/cards-per-day', '/api/stock']) {
      const text = (await get(`${open.url}${path}`)).text;
      for (const pan of pans) assert.ok(!text.includes(pan), `${path} holds a full PAN`);
    }
  });

  it('with a token: the page and the API need the bearer header; health probes and /metrics stay open', async () => {
    for (const path of ['/', '/status', '/static/status.js', '/api/status', '/api/runs']) {
      const none = await get(`${guarded.url}${path}`);
      assert.equal(none.status, 401, path);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assert.equal(none.headers['content-security-policy'], SECURITY_HEADERS['content-security-policy']);
      assert.equal((await get(`${guarded.url}${path}`, { authorization: `Bearer ${TOKEN}x` })).status, 401, `${path}: a wrong token`);
      assert.equal((await get(`${guarded.url}${path}`, { authorization: `Basic ${TOKEN}` })).status, 401, `${path}: not a bearer`);
      assert.equal((await get(`${guarded.url}${path}?token=${TOKEN}`)).status, 401, `${path}: never in the query string`);
      assert.equal((await get(`${guarded.url}${path}`, { authorization: `Bearer ${TOKEN}` })).status, 200, path);
    }
    for (const path of ['/livez', '/readyz', '/healthz', '/metrics']) assert.equal((await get(`${guarded.url}${path}`)).status, 200, path);
  });

  it('a token shorter than 16 characters is refused at start; an empty one means none', () => {
    assert.throws(() => statusTokenFromEnv({ BX_STATUS_TOKEN: 'short' }), /BX_STATUS_TOKEN: at least 16 characters/);
    assert.equal(statusTokenFromEnv({ BX_STATUS_TOKEN: '' }), undefined);
    assert.equal(statusTokenFromEnv({ BX_STATUS_TOKEN: TOKEN }), TOKEN);
  });
});
