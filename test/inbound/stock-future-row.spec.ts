import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../src/db/connection.js';
import { stockHistory, stockLevels } from '../../src/db/stock.js';
import type { ReportInput } from '../../src/inbound/report-format.js';
import { describeEachDatabase } from '../helpers/db.js';
import { header } from './fixtures.js';
import { applyBuiltReport } from './seed.js';

const read = { maxBytes: 50_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };
const NOW = '2026-11-26T07:00:00.000Z';
const item = (productCode: string, closing: number) => ({ productCode, opening: 5000, received: 0, used: 1, spoiled: 0, closing, minStock: 1000 });
const stockReport = (reportDate: string, closing: number): ReportInput => ({
  header: { ...header('', reportDate), recordsReceived: null }, rejections: [], shipments: [], stock: [item('FUT01', closing)],
});

/**
 * A stock level dated later than any report may be (now + 7 days: a row an older version kept, or a
 * host clock years ahead when it was written) must not freeze the product's level until that date.
 */
describeEachDatabase('inbound/stock: a level dated past the accepted bound', (ctx) => {
  let dir: string;
  let db: Db;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-stock-future-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => db('plastic_stock').where({ product_code: 'FUT01' }).delete());

  const level = async () => (await stockLevels(db)).find((s) => s.product_code === 'FUT01');

  it('a row dated years ahead is replaced by the next report of today', async () => {
    await db('plastic_stock').insert({
      bureau_code: null, product_code: 'FUT01', opening: 1, received: 0, used: 0, spoiled: 0, closing: 1, min_stock: 1000, low: true,
      report_id: null, report_date: '2031-06-30', updated_at: '2021-06-30T00:00:00.000Z',
    });
    await applyBuiltReport(db, dir, stockReport('2026-11-26', 4000), read, NOW);
    const row = await level();
    assert.deepEqual([row?.closing, row?.report_date, row?.low], [4000, '2026-11-26', false], 'today\'s level, not the one dated 2031');
  });

  it('the trend leaves out a point dated past the bound (it drew the chart up to that year)', async () => {
    await db('plastic_stock_history').insert({
      bureau_code: null, product_code: 'FUT02', report_id: null, report_date: '2031-06-30', closing: 1, min_stock: 1000, recorded_at: '2021-06-30T00:00:00.000Z',
    });
    await applyBuiltReport(db, dir, { ...stockReport('2026-11-26', 4000), stock: [item('FUT02', 4000)] }, read, NOW);
    const points = (await stockHistory(db, '2026-01-01', NOW)).filter((p) => p.productCode === 'FUT02');
    assert.deepEqual(points.map((p) => [p.reportDate, p.closing]), [['2026-11-26', 4000]]);
  });

  it('a row dated within the bound (a report dated by the next business day) still wins over an older report', async () => {
    await applyBuiltReport(db, dir, stockReport('2026-11-30', 3000), read, NOW);
    await applyBuiltReport(db, dir, stockReport('2026-11-26', 2000), read, NOW);
    assert.deepEqual([(await level())?.closing, (await level())?.report_date], [3000, '2026-11-30']);
  });
});
