import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { upsertContract } from '../../src/db/contracts.js';
import { quarantineReport } from '../../src/db/reports.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import { makeCard } from '../helpers/cards.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { manualClock } from '../daemon/fakes.js';

describeEachDatabase('status page under load: the whole-table card counts are read once a minute at most', (ctx) => {
  const cipher = new PanCipher(newPanKey());
  const clock = manualClock('2026-11-27T10:00:00Z');
  let http: HttpEndpoint;
  /** the statements that read card_contracts (whole-table counts: a full scan each on SQLite, on the daemon's own thread) */
  const scans: string[] = [];
  const onQuery = (q: { sql: string }) => { if (/card_contracts/.test(q.sql)) scans.push(q.sql); };
  let seq = 0;
  const mark = async (n: number) => {
    await ctx().db.transaction(async (trx) => {
      for (let i = 0; i < n; i++) assert.equal((await upsertContract(trx, makeCard(++seq), 'Marked', cipher)).kind, 'inserted');
    });
  };
  const api = async (path: string) => JSON.parse(await (await fetch(`${http.url}${path}`)).text());

  before(async () => {
    const { db } = ctx();
    await mark(3);
    const config = testConfig({ http: { enabled: true, port: 0 } });
    const data = makeStatusData({ db, config, clock });
    http = await startHttpServer(config.http, { health: async () => { throw new Error('not asked'); }, registry: new Registry(), log: silentLogger, page: statusRoutes(data) });
    db.on('query', onQuery);
  });
  after(async () => {
    ctx().db.removeListener('query', onQuery);
    await http?.close();
  });

  // 30 requests at once: under the server's cap of 64 connections (fetch may open one per request)
  it('10 page loads at once (status and cards per day) count the cards once; a minute later, again', async () => {
    const load = () => Promise.all([api('/api/status'), api('/api/cards-per-day'), api('/api/cards-per-day?days=7')]);
    const [first] = await Promise.all(Array.from({ length: 10 }, load));
    const once = scans.length;
    assert.ok(once > 0, 'the counts were read');
    assert.equal(first[0].contracts.Marked, 3);
    assert.equal(first[1].waiting, 3);
    await mark(2);
    scans.length = 0;
    await Promise.all(Array.from({ length: 10 }, load));
    assert.deepEqual(scans, [], 'no count again within the minute, however many requests');
    clock.advance(61_000);
    const [again] = await Promise.all(Array.from({ length: 10 }, load));
    assert.equal(scans.length, once, 'counted once more after the minute');
    assert.equal(again[0].contracts.Marked, 5);
    assert.equal(again[1].waiting, 5);
  });

  it('what an operator acts on stays fresh: a report quarantined now is on the page at once', async () => {
    await quarantineReport(ctx().db, { remoteName: 'BXISSUER_REPORT_20261127_000009.xml.rsa', sha256: 'a'.repeat(64), kind: 'rsa', localPath: '/x', error: 'bad signature' });
    const s = await api('/api/status');
    assert.deepEqual(s.quarantined.map((q: any) => q.remoteName), ['BXISSUER_REPORT_20261127_000009.xml.rsa']);
    assert.deepEqual(s.alerts.map((a: any) => a.kind), ['quarantine']);
  });

  it('a long quarantine: the latest 100 listed, the latest first, and the alert counts every one', async () => {
    for (let i = 10; i < 110; i++) {
      await quarantineReport(ctx().db, { remoteName: `BXISSUER_REPORT_20261127_${String(i).padStart(6, '0')}.xml.rsa`, sha256: i.toString(16).padStart(64, 'b'), kind: 'rsa', localPath: '/x', error: 'bad signature' });
    }
    const s = await api('/api/status');
    assert.equal(s.quarantined.length, 100);
    assert.equal(s.quarantined[0].remoteName, 'BXISSUER_REPORT_20261127_000109.xml.rsa');
    assert.equal(s.quarantinedTotal, 101);
    assert.equal(s.alerts.find((a: any) => a.kind === 'quarantine').message, '101 report(s) quarantined');
  });
});
