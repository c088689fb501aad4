import { strict as assert } from 'node:assert';
import type { Db } from '../../src/db/connection.js';
import { insertReturningId } from '../../src/db/connection.js';
import { upsertStockLevels } from '../../src/db/stock.js';
import { makeMetrics } from '../../src/daemon/metrics.js';
import { silentLogger } from '../../src/log.js';
import { describeEachDatabase } from '../helpers/db.js';

const NOW = '2026-11-26T08:00:00.000Z';
const item = (closing: number) => ({ path: 'BureauReport/Stock/Item[1]', productCode: 'GOLD01', opening: 50, received: 0, used: 50 - closing, spoiled: 0, closing, minStock: 5 });

describeEachDatabase('daemon: the low-stock gauge of two bureaus stocking one product', (ctx) => {
  const report = (db: Db, bureau: string, n: number) => insertReturningId(db, 'bureau_reports', {
    bureau_code: bureau, remote_name: `R${n}`, sha256: String(n).padStart(64, '0'), kind: 'rsa', state: 'applied', created_at: NOW, updated_at: NOW,
  });

  it('keeps one series per bureau: one bureau low, the other not (the first bureau\'s rows carry no code)', async () => {
    const { db } = ctx();
    const [r1, r2] = [await report(db, 'BUREAU01', 901), await report(db, 'EMB01', 902)];
    await db.transaction((trx) => upsertStockLevels(trx, [item(40)], { id: r1, date: '2026-11-26' }, NOW, { code: 'BUREAU01', first: true }));
    await db.transaction((trx) => upsertStockLevels(trx, [item(3)], { id: r2, date: '2026-11-26' }, NOW, { code: 'EMB01', first: false }));
    const metrics = makeMetrics({ db, log: silentLogger, defaultMetrics: false, bureaus: ['BUREAU01', 'EMB01'] });
    const text = await metrics.registry.metrics();
    const series = text.split('\n').filter((l) => l.startsWith('bx_plastic_stock_below_minimum{')).sort();
    assert.deepEqual(series, [
      'bx_plastic_stock_below_minimum{product="GOLD01",bureau="BUREAU01"} 0',
      'bx_plastic_stock_below_minimum{product="GOLD01",bureau="EMB01"} 1',
    ]);
  });
});
