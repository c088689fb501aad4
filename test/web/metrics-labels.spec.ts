import assert from 'node:assert/strict';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { makeMetrics } from '../../src/daemon/metrics.js';
import { silentLogger } from '../../src/log.js';
import { maskPansInText } from '../../src/security/mask.js';
import { describeEachDatabase } from '../helpers/db.js';
import { parseExposition } from './prometheus-text.js';

/** What a terminal, Grafana's legend or a shell pipe acts on: C0/C1 controls, DEL, bidi marks, line separators. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const PAN = '4111111111111111';

/**
 * Product codes as an older version (or a bureau, before ProductCode was checked) stored them:
 * quote, backslash, line break, a PAN, a C1 CSI, a bidi override, a line separator. 20 characters at most.
 */
const PRODUCTS = ['CL"AS\\S', 'A\nB\r', PAN, 'X\u009b31mY', 'R\u202eLIVE', 'L\u2028S\u0085'];
/** bureau codes in stored rows (8 characters at most): not from the config, so never checked */
const BUREAUS = ['B"\\\n\u009b', '\u202eEVIL'];

describeEachDatabase('/metrics with hostile text in stored rows: valid Prometheus text, no PAN, no control character', (ctx) => {
  let http: HttpEndpoint;

  before(async () => {
    const { db } = ctx();
    const now = new Date().toISOString();
    for (const [i, product] of PRODUCTS.entries()) {
      await db('plastic_stock').insert({
        product_code: product, bureau_code: i % 2 ? BUREAUS[i % BUREAUS.length] : null, opening: 10, received: 0, used: 0, spoiled: 0,
        closing: 10, min_stock: 100, low: true, report_id: null, report_date: '2026-11-30', updated_at: now,
      });
    }
    for (const [i, bureau] of BUREAUS.entries()) {
      await db('perso_batches').insert({
        bureau_code: bureau, business_date: '2026-11-30', sequence: i + 1, file_name: `F_${i}.pgp`, state: 'claimed', record_count: 1, created_at: now, updated_at: now,
      });
    }
    const metrics = makeMetrics({ db, log: silentLogger, defaultMetrics: false, bureaus: ['BUREAU01'] });
    http = await startHttpServer({ enabled: true, host: '127.0.0.1', port: 0 }, { health: async () => { throw new Error('not asked'); }, registry: metrics.registry, log: silentLogger });
  });
  after(async () => {
    await http?.close();
  });

  it('a scrape parses strictly; every label is free of controls and full PANs; every stored row still has its series', async () => {
    const res = await fetch(`${http.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    const { samples } = parseExposition(text);
    assert.ok(!text.includes(PAN), 'a full PAN in the exposition');
    for (const s of samples) {
      for (const [label, value] of Object.entries(s.labels)) {
        assert.doesNotMatch(value, UNSAFE, `${s.name} ${label}=${JSON.stringify(value)}`);
        assert.equal(maskPansInText(value), value, `${s.name} ${label}: a PAN`);
      }
    }
    const stock = samples.filter((s) => s.name === 'bx_plastic_stock_below_minimum');
    assert.equal(stock.length, PRODUCTS.length, 'one series per stored level: none merged, none lost');
    assert.deepEqual(stock.map((s) => s.labels.product).sort(), ['A B ', 'CL"AS\\S', '411111******1111', 'L\ufffdS\ufffd', 'R\ufffdLIVE', 'X\ufffd31mY'].sort());
    const unsent = samples.filter((s) => s.name === 'bx_batches_unsent' && s.labels.state === 'claimed');
    assert.deepEqual(unsent.map((s) => [s.labels.bureau, s.value]).sort(), [['B"\\ \ufffd', 1], ['BUREAU01', 0], ['\ufffdEVIL', 1]].sort());
  });
});
