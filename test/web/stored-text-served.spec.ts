import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { upsertContract } from '../../src/db/contracts.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import { makeCard } from '../helpers/cards.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { launchChromium } from './chromium.js';


/** What reorders, hides or acts on shown text: C0/C1 controls, DEL, bidi marks and isolates, line and paragraph separators. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const PAN = '4111111111111111';
/**
 * Free text as an older version stored it, unscrubbed: a C1 CSI, a right-to-left override, an
 * isolate, a line separator, NEL, a grouped PAN. 56 characters: fits every column it goes in.
 */
const hostile = (what: string) => `${what}\u009b2J\u202eesrever\u2066x\u2069\u2028L\u0085 ${PAN.replace(/(\d{4})(?=\d)/g, '$1 ')}`;

/** Every string in a JSON document, with where it is. */
function strings(value: unknown, path = '$'): Array<[string, string]> {
  if (typeof value === 'string') return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((v, i) => strings(v, `${path}[${i}]`));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => strings(v, `${path}.${k}`));
  return [];
}

describeEachDatabase('stored text with controls, bidi overrides and PANs (rows of an older version): the JSON and the page show it inert and masked', (ctx) => {
  let http: HttpEndpoint;
  const now = '2026-11-27T10:00:00.000Z';

  before(async () => {
    const { db } = ctx();
    const cipher = new PanCipher(newPanKey());
    await db.transaction(async (trx) => {
      const out = await upsertContract(trx, makeCard(1), 'Rejected', cipher);
      assert.ok(out.kind === 'inserted');
      await trx('card_contracts').where({ id: out.id }).update({ reject_code: 'E1', reject_reason: hostile('reason'), courier: hostile('c').slice(0, 50), tracking_number: hostile('t') });
    });
    await db('job_runs').insert({
      job: 'send', trigger: 'manual', reason: hostile('why'), runner: hostile('runner'), started_at: now, finished_at: now, outcome: 'failed',
      duration_ms: 1, file_names: JSON.stringify([hostile('file')]), error: hostile('error'),
    });
    await db('bureau_reports').insert({ remote_name: hostile('report'), sha256: 'a'.repeat(64), kind: 'rsa', state: 'quarantined', error: hostile('quarantine'), created_at: now, updated_at: now });
    await db('perso_batches').insert({ business_date: '2026-11-27', sequence: 1, file_name: hostile('batch'), state: 'uploaded', attempts: 2, last_error: hostile('upload'), created_at: now, updated_at: now });
    await db('runner_presence').insert({ runner: hostile('present'), role: 'standby', started_at: now, seen_at: new Date().toISOString() });
    await db('leases').insert({ name: 'send', owner: hostile('owner'), acquired_at: now, expires_at: Date.now() + 60_000 });
    const config = testConfig({ http: { enabled: true, port: 0 } });
    const data = makeStatusData({ db, config });
    http = await startHttpServer(config.http, { health: async () => { throw new Error('not asked'); }, registry: new Registry(), log: silentLogger, page: statusRoutes(data) });
  });
  after(async () => {
    await http?.close();
  });

  it('/api/status and /api/runs: every string free of controls and bidi marks, the PAN masked, the text still there', async () => {
    for (const path of ['/api/status', '/api/runs']) {
      const text = await (await fetch(`${http.url}${path}`)).text();
      assert.ok(!text.replace(/\D/g, '').includes(PAN), `${path}: a full PAN`);
      const all = strings(JSON.parse(text));
      for (const [where, s] of all) assert.doesNotMatch(s, UNSAFE, `${path} ${where}: ${JSON.stringify(s)}`);
      const shown = all.map(([, s]) => s).join('\n');
      for (const what of path === '/api/runs' ? ['why', 'runner', 'file', 'error'] : ['reason', 'quarantine', 'report', 'upload', 'batch', 'present', 'owner', 'error']) {
        assert.ok(shown.includes(`${what}\ufffd2J\ufffdesrever\ufffdx\ufffd\ufffdL\ufffd 411111******1111`), `${path}: ${what} shown, its controls replaced one for one`);
      }
    }
  });

  it('in Chromium the page shows no control, bidi mark nor full PAN', async function () {
    this.timeout(60_000);
    const browser = await launchChromium(this);
    try {
      const page = await browser.newPage();
      await page.goto(`${http.url}/`);
      await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
      // what the page filled in: every cell, list item and line (the HTML's own indentation aside)
      const text = (await page.$$eval('td, li, p, code', (nodes) => nodes.map((n) => n.textContent ?? ''))).join('|');
      assert.match(text, /quarantine\ufffd2J/, 'the quarantine reason is on the page');
      assert.match(text, /upload\ufffd2J/, "the batch's last error is on the page");
      assert.doesNotMatch(text, UNSAFE);
      assert.ok(!text.replace(/\D/g, '').includes(PAN), 'a full PAN on the page');
    } finally {
      await browser.close();
    }
  });
});

describeEachDatabase('a run whose stored file names are not a JSON list, a lease expiring past any date: the page still answers', (ctx) => {
  let http: HttpEndpoint;

  before(async () => {
    const { db } = ctx();
    const now = '2026-11-27T10:00:00.000Z';
    const run = { job: 'send', trigger: 'manual', reason: 'r', runner: 'host:1:a', started_at: now, finished_at: now, outcome: 'ok', duration_ms: 1 };
    // a list cut short (a text column that truncated), a JSON value that is no list, a list with a number in it
    await db('job_runs').insert([{ ...run, file_names: '["A.pgp","B.p' }, { ...run, file_names: '{"a":1}' }, { ...run, file_names: '["C.pgp",7]' }]);
    // a lease pinned by hand past any date (year 275760 is the last a Date holds)
    await db('leases').insert({ name: 'send:EMB01', owner: 'by-hand', acquired_at: now, expires_at: 9e15 });
    const config = testConfig({ http: { enabled: true, port: 0 } });
    http = await startHttpServer(config.http, { health: async () => { throw new Error('not asked'); }, registry: new Registry(), log: silentLogger, page: statusRoutes(makeStatusData({ db, config })) });
  });
  after(async () => {
    await http?.close();
  });

  it('/api/runs and /api/status answer 200, each run with a list of names as text', async () => {
    const runs = await fetch(`${http.url}/api/runs`);
    assert.equal(runs.status, 200);
    assert.deepEqual((await runs.json()).map((r: { files: unknown }) => r.files), [['C.pgp', '7'], ['{"a":1}'], ['["A.pgp","B.p']]);
    const status = await fetch(`${http.url}/api/status`);
    assert.equal(status.status, 200);
    const body = await status.json();
    assert.deepEqual(body.bureaus[0].lastSend.files, ['C.pgp', '7']);
    assert.match(body.runners.leases.find((l: { owner: string }) => l.owner === 'by-hand').expiresAt, /^not a time: /);
  });
});
