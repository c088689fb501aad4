import { strict as assert } from 'node:assert';
import type { Db } from '../../src/db/connection.js';
import { insertReturningId } from '../../src/db/connection.js';
import { migrateDownLast, migrateLatest } from '../../src/db/migrate.js';
import { quarantinedReports } from '../../src/db/reports.js';
import { stockHistory, stockLevels, upsertStockLevels } from '../../src/db/stock.js';
import { describeEachDatabase } from '../helpers/db.js';

const NOW = '2026-11-26T08:00:00.000Z';
const FIRST = { code: 'BUREAU01', first: true };
const OTHER = { code: 'EMB01', first: false };
const item = (closing: number) => ({ path: 'BureauReport/Stock/Item[1]', productCode: 'GOLD01', opening: 50, received: 0, used: 50 - closing, spoiled: 0, closing, minStock: 5 });

describeEachDatabase('reports and stock per bureau (migration 006)', (ctx) => {
  const report = (db: Db, bureau: string | null, n: number, state = 'applied') => insertReturningId(db, 'bureau_reports', {
    bureau_code: bureau, remote_name: `R${n}`, sha256: String(n).padStart(64, '0'), kind: 'rsa', state, created_at: NOW, updated_at: NOW,
  });
  const levels = async (db: Db) => (await stockLevels(db)).map((r) => [r.bureau_code, r.product_code, Number(r.closing)]);

  beforeEach(async () => {
    const { db } = ctx();
    await db('plastic_stock_history').delete();
    await db('plastic_stock').delete();
    await db('report_anomalies').delete();
    await db('bureau_reports').delete();
  });

  it('keeps one stock level per bureau and product; a report of a bureau updates only its own', async () => {
    const { db } = ctx();
    const [r1, r2, r3] = [await report(db, 'BUREAU01', 1), await report(db, 'EMB01', 2), await report(db, 'EMB01', 3)];
    await db.transaction((trx) => upsertStockLevels(trx, [item(10)], { id: r1, date: '2026-11-26' }, NOW, FIRST));
    await db.transaction((trx) => upsertStockLevels(trx, [item(20)], { id: r2, date: '2026-11-26' }, NOW, OTHER));
    await db.transaction((trx) => upsertStockLevels(trx, [item(3)], { id: r3, date: '2026-11-27' }, NOW, OTHER));
    assert.deepEqual(await levels(db), [[null, 'GOLD01', 10], ['EMB01', 'GOLD01', 3]]);
    assert.deepEqual((await db('plastic_stock_history').orderBy('id')).map((h: any) => [h.bureau_code, Number(h.closing)]), [[null, 10], ['EMB01', 20], ['EMB01', 3]]);
    await assert.rejects(db('plastic_stock').insert({ bureau_code: 'EMB01', product_code: 'GOLD01', opening: 0, received: 0, used: 0, spoiled: 0, closing: 0, min_stock: 0, low: false, updated_at: NOW }),
      'one row per bureau and product');
  });

  it('takes product codes as they are written: two that differ only in letter case are two products, on MariaDB too (migration 011)', async () => {
    const { db } = ctx();
    const r1 = await report(db, 'EMB01', 9);
    const upper = { ...item(500), productCode: 'CLASSIC01' };
    const lower = { ...item(50), path: 'BureauReport/Stock/Item[2]', productCode: 'classic01' };
    await db.transaction((trx) => upsertStockLevels(trx, [upper, lower], { id: r1, date: '2026-11-26' }, NOW, OTHER));
    assert.deepEqual((await levels(db)).sort(), [['EMB01', 'CLASSIC01', 500], ['EMB01', 'classic01', 50]]);
    assert.deepEqual((await db('plastic_stock_history').where({ product_code: 'classic01' })).map((h: any) => Number(h.closing)), [50]);
  });

  it('stock history past its limit drops the oldest points, not the products last in order', async function () {
    this.timeout(60_000);
    const { db } = ctx();
    const r = await report(db, 'BUREAU01', 9);
    const point = (product: string, date: string, closing: number) => ({ product_code: product, report_id: r, report_date: date, closing, min_stock: 5, recorded_at: NOW });
    // 5000 old points of one product, then one recent point each of a product before and after it in name order
    const old = Array.from({ length: 5000 }, (_, i) => point('CLASSIC01', `2026-0${1 + Math.floor(i / 1000)}-${String(1 + (i % 28)).padStart(2, '0')}`, i));
    await db.batchInsert('plastic_stock_history', old, 500);
    await db('plastic_stock_history').insert([point('ZZGOLD01', '2026-11-26', 7), point('AAGOLD01', '2026-11-26', 8)]);
    const history = await stockHistory(db, '2026-01-01');
    assert.equal(history.length, 5000);
    assert.deepEqual(history.filter((p) => p.productCode !== 'CLASSIC01').map((p) => [p.productCode, p.reportDate, p.closing]), [['AAGOLD01', '2026-11-26', 8], ['ZZGOLD01', '2026-11-26', 7]]);
    const classic = history.filter((p) => p.productCode === 'CLASSIC01').map((p) => p.reportDate!);
    assert.deepEqual(classic, [...classic].sort(), 'oldest first within a product');
    assert.equal(history[0]!.productCode, 'AAGOLD01', 'products in order');
  });

  it('the quarantined reports of a bureau: the first bureau\'s also those without a code (received before)', async () => {
    const { db } = ctx();
    await report(db, null, 4, 'quarantined');
    await report(db, 'BUREAU01', 5, 'quarantined');
    await report(db, 'EMB01', 6, 'quarantined');
    assert.deepEqual((await quarantinedReports(db, undefined, FIRST)).map((r) => r.remote_name), ['R4', 'R5']);
    assert.deepEqual((await quarantinedReports(db, undefined, OTHER)).map((r) => r.remote_name), ['R6']);
    assert.equal((await quarantinedReports(db)).length, 3);
  });

  it('rolls down to one level per product (the first bureau\'s stays) and up again', async () => {
    const { db } = ctx();
    const [r1, r2] = [await report(db, 'BUREAU01', 7), await report(db, 'EMB01', 8)];
    await db.transaction((trx) => upsertStockLevels(trx, [item(10)], { id: r1, date: '2026-11-26' }, NOW, FIRST));
    await db.transaction((trx) => upsertStockLevels(trx, [item(20)], { id: r2, date: '2026-11-26' }, NOW, OTHER));
    assert.deepEqual(await migrateDownLast(db), ['011_stock_product_code_exact'], 'the later migrations first');
    assert.deepEqual(await migrateDownLast(db), ['010_report_clear_sha256']);
    assert.deepEqual(await migrateDownLast(db), ['009_marked_contracts']);
    assert.deepEqual(await migrateDownLast(db), ['008_no_pan_hmac_index']);
    assert.deepEqual(await migrateDownLast(db), ['007_send_set_based']);
    assert.deepEqual(await migrateDownLast(db), ['006_report_bureau']);
    for (const table of ['bureau_reports', 'plastic_stock', 'plastic_stock_history']) assert.equal(await db.schema.hasColumn(table, 'bureau_code'), false, table);
    assert.deepEqual((await db('plastic_stock')).map((r: any) => [r.product_code, Number(r.closing)]), [['GOLD01', 10]]);
    await assert.rejects(db('plastic_stock').insert({ product_code: 'GOLD01', opening: 0, received: 0, used: 0, spoiled: 0, closing: 0, min_stock: 0, low: false, updated_at: NOW }),
      'the product is the key again');
    assert.equal((await db('bureau_reports')).length, 2, 'no report is lost');
    assert.deepEqual(await migrateLatest(db), ['006_report_bureau', '007_send_set_based', '008_no_pan_hmac_index', '009_marked_contracts', '010_report_clear_sha256', '011_stock_product_code_exact']);
    assert.deepEqual(await levels(db), [[null, 'GOLD01', 10]], 'rows from before have no bureau: the first bureau\'s');
  });
});
