import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../src/db/connection.js';
import { anomaliesOf } from '../../src/db/reports.js';
import type { ReportInput } from '../../src/inbound/report-format.js';
import { describeEachDatabase } from '../helpers/db.js';
import { header, shipment } from './fixtures.js';
import { applyBuiltReport, contractOf, seedBatch } from './seed.js';

const read = { maxBytes: 50_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };
const NOW = '2026-11-27T07:00:00.000Z';
type Shipment = ReturnType<typeof shipment>;
const shipments = (fileName: string, reportDate: string, records: Shipment[]): ReportInput => ({
  header: header(fileName, reportDate), rejections: [], shipments: records, stock: [],
});
const shipmentOf = (c: Record<string, any>) => [c.production_status, c.expected_ship_date, c.ship_date, c.courier, c.tracking_number];

/**
 * Reports that arrive out of their order (a report of yesterday uploaded after today's), and reports
 * naming one card twice: the card ends as the newest report says.
 */
describeEachDatabase('inbound: reports out of order, a card named twice', (ctx) => {
  let dir: string;
  let db: Db;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-report-order-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a report of yesterday applied after today\'s does not take back the shipment today\'s gave: an anomaly, the card as today\'s report left it', async () => {
    const batch = await seedBatch(db, [31]);
    const today = { ...shipment(31, { shipped: '2026-11-26', sequence: 1 }), courier: 'DHL', trackingNumber: 'JDNEW31' };
    const yesterday = { ...shipment(31, { expected: '2026-11-28', sequence: 1 }), courier: 'UPS', trackingNumber: '1ZOLD31' };
    await applyBuiltReport(db, dir, shipments(batch.fileName, '2026-11-26', [today]), read, NOW);
    const late = await applyBuiltReport(db, dir, shipments(batch.fileName, '2026-11-25', [yesterday]), read, NOW);
    assert.deepEqual(shipmentOf(await contractOf(db, 31)), ['Shipped', null, '2026-11-26', 'DHL', 'JDNEW31']);
    assert.equal(late.counts.anomalies, 1);
    const [anomaly] = await anomaliesOf(db, late.reportId);
    assert.match(anomaly!.reason, /2026-11-25.*older.*2026-11-26/);
    const events = await db('contract_events').where({ contract_id: batch.ids.get(31), source_kind: 'report' });
    assert.equal(events.length, 1, 'the late report changed nothing');
  });

  it('a report of the same day or later still turns an expected shipment into an actual one', async () => {
    const batch = await seedBatch(db, [32]);
    await applyBuiltReport(db, dir, shipments(batch.fileName, '2026-11-26', [shipment(32, { expected: '2026-11-27', sequence: 1 })]), read, NOW);
    await applyBuiltReport(db, dir, shipments(batch.fileName, '2026-11-26', [{ ...shipment(32, { shipped: '2026-11-27', sequence: 1 }), trackingNumber: 'JDX32' }]), read, NOW);
    assert.deepEqual(shipmentOf(await contractOf(db, 32)), ['Shipped', '2026-11-27', '2026-11-27', 'DHL', 'JDX32']);
  });

  for (const order of ['expected, then actual', 'actual, then expected'] as const) {
    it(`two shipments of one card in one report (${order}): the card is shipped, with the actual date`, async () => {
      const n = order === 'expected, then actual' ? 33 : 34;
      const batch = await seedBatch(db, [n]);
      const expected = shipment(n, { expected: '2026-11-27', sequence: 1 });
      const actual = shipment(n, { shipped: '2026-11-26', sequence: 1 });
      await applyBuiltReport(db, dir, shipments(batch.fileName, '2026-11-26', order === 'expected, then actual' ? [expected, actual] : [actual, expected]), read, NOW);
      assert.deepEqual(shipmentOf(await contractOf(db, n)), ['Shipped', '2026-11-27', '2026-11-26', 'DHL', `JD${n}`]);
    });
  }
});
