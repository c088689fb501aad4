import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { anomaliesOf } from '../../src/db/reports.js';
import { stockLevels } from '../../src/db/stock.js';
import { applyReportFile } from '../../src/inbound/apply-report.js';
import { readReportHeader } from '../../src/inbound/parse-report.js';
import { buildReportXml, type ReportInput } from '../../src/inbound/report-format.js';
import { silentLogger } from '../../src/log.js';
import type { Db } from '../../src/db/connection.js';
import { describeEachDatabase } from '../helpers/db.js';
import { applyBuiltReport, contractOf, seedBatch } from './seed.js';

const read = { maxBytes: 50_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };
const header = (sourceFile: string, reportDate = '2026-11-26') => ({
  issuer: 'BXISSUER', bureau: 'BUREAU01', reportDate, createdAt: `${reportDate}T06:15:00Z`, sourceFile, recordsReceived: 1,
});
const contractId = (n: number) => String(1000 + n).padStart(15, '0');
const plasticId = (n: number) => String(5000 + n).padStart(12, '0');
const shipment = (n: number, o: { expected?: string; shipped?: string; plastic?: string; sequence?: number } = {}) => ({
  recordSequence: o.sequence ?? n, cardContractId: contractId(n), plasticId: o.plastic ?? plasticId(n), expectedShipDate: o.expected ?? null,
  shipDate: o.shipped ?? null, courier: 'DHL', trackingNumber: `JD${n}`,
});
const rejection = (n: number) => ({ recordSequence: n, cardContractId: contractId(n), plasticId: plasticId(n), code: '012', reason: 'Unregistered plastic' });

describeEachDatabase('inbound/apply-report', (ctx) => {
  let dir: string;
  let db: Db;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-apply-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const apply = (report: ReportInput, now?: string) => applyBuiltReport(db, dir, report, read, now);

  it('applies rejections, expected and actual shipments and stock, with one event per change', async () => {
    const batch = await seedBatch(db, [1, 2, 3]);
    const { reportId, counts } = await apply({
      header: header(batch.fileName),
      rejections: [rejection(2)],
      shipments: [shipment(1, { expected: '2026-11-27' }), shipment(3, { shipped: '2026-11-26' })],
      stock: [{ productCode: 'CLASSIC01', opening: 5000, received: 0, used: 3, spoiled: 0, closing: 900, minStock: 1000 }],
    });
    assert.deepEqual(counts, { rejections: 1, shipments: 2, stockItems: 1, anomalies: 0 });
    const [c1, c2, c3] = [await contractOf(db, 1), await contractOf(db, 2), await contractOf(db, 3)];
    assert.equal(c1.production_status, 'Shipped');
    assert.equal(c1.expected_ship_date, '2026-11-27');
    assert.equal(c1.ship_date, null);
    assert.equal(c1.tracking_number, 'JD1');
    assert.deepEqual([c2.production_status, c2.reject_code, c2.reject_reason], ['Rejected', '012', 'Unregistered plastic']);
    assert.deepEqual([c3.production_status, c3.ship_date, c3.courier], ['Shipped', '2026-11-26', 'DHL']);
    const events = await db('contract_events').where({ source_kind: 'report', source_id: reportId }).orderBy('contract_id');
    assert.deepEqual(events.map((e: any) => [Number(e.contract_id), e.from_status, e.to_status]), [
      [batch.ids.get(1), 'InProduction', 'Shipped'], [batch.ids.get(2), 'InProduction', 'Rejected'], [batch.ids.get(3), 'InProduction', 'Shipped'],
    ]);
    const row = await db('bureau_reports').where({ id: reportId }).first();
    assert.deepEqual([row.state, row.source_file, Number(row.shipments), Number(row.rejections), Number(row.stock_items)], ['applied', batch.fileName, 2, 1, 1]);
    const [stock] = await stockLevels(db);
    assert.deepEqual([stock!.product_code, stock!.closing, stock!.low], ['CLASSIC01', 900, true]);
  });

  it('keeps Shipped when a later report adds the ship date, and merges the details', async () => {
    const batch = await seedBatch(db, [11]);
    await apply({ header: header(batch.fileName), shipments: [shipment(11, { expected: '2026-11-27' })] });
    const later = await apply({ header: header(batch.fileName, '2026-11-27'), shipments: [{ ...shipment(11, { shipped: '2026-11-27' }), trackingNumber: '' }] });
    const c = await contractOf(db, 11);
    assert.deepEqual([c.production_status, c.expected_ship_date, c.ship_date, c.tracking_number], ['Shipped', '2026-11-27', '2026-11-27', 'JD11']);
    const events = await db('contract_events').where({ contract_id: batch.ids.get(11), source_kind: 'report' }).orderBy('id');
    assert.deepEqual(events.map((e: any) => [e.from_status, e.to_status]), [['InProduction', 'Shipped'], ['Shipped', 'Shipped']]);
    assert.equal(events[1].source_id, later.reportId);
    assert.match(events[1].detail, /shipped 2026-11-27 via DHL JD11/);
  });

  it('records anomalies (unknown contract, wrong plastic, rejection after shipment, unknown file) and applies the rest', async () => {
    const batch = await seedBatch(db, [21, 22, 23]);
    const other = await seedBatch(db, [24]);
    await apply({ header: header(batch.fileName), shipments: [shipment(23, { shipped: '2026-11-26' })] });
    const { reportId, counts } = await apply({
      header: header(batch.fileName),
      rejections: [rejection(23), rejection(24)],
      shipments: [shipment(21, { expected: '2026-11-28' }), shipment(22, { expected: '2026-11-28', plastic: '999' }), shipment(99, { expected: '2026-11-28' })],
    });
    assert.deepEqual(counts, { rejections: 0, shipments: 1, stockItems: 0, anomalies: 4 });
    const anomalies = await anomaliesOf(db, reportId);
    assert.deepEqual(anomalies.map((a) => [a.element, a.contract_number, a.reason]), [
      ['BureauReport/Rejections/Rejection[1]', '1023', 'rejection after shipment: contract 1023 is already Shipped (2026-11-26)'],
      ['BureauReport/Rejections/Rejection[2]', '1024', `contract 1024 was not in ${batch.fileName}`],
      ['BureauReport/Shipments/Shipment[2]', '1022', `plastic 999 is not the plastic of contract 1022 in ${batch.fileName}`],
      ['BureauReport/Shipments/Shipment[3]', '1099', `contract 1099 was not in ${batch.fileName}`],
    ]);
    assert.equal((await contractOf(db, 21)).production_status, 'Shipped');
    assert.equal((await contractOf(db, 22)).production_status, 'InProduction');
    assert.equal((await contractOf(db, 23)).production_status, 'Shipped');
    assert.equal((await contractOf(db, 24)).production_status, 'InProduction');
    assert.equal(Number((await db('bureau_reports').where({ id: reportId }).first()).anomalies), 4);
    const unknownFile = await apply({ header: header('BXISSUER_PERSO_20990101_000001.dat.pgp'), shipments: [shipment(24, { expected: '2026-11-28' })] });
    assert.equal(unknownFile.counts.anomalies, 1);
    assert.match((await anomaliesOf(db, unknownFile.reportId))[0]!.reason, /is not one of our personalization files/);
    assert.equal(other.ids.size, 1);
  });

  it('rejects a card whose shipment was only announced (an expected date, no ship date): left Shipped, its order was lost', async () => {
    const batch = await seedBatch(db, [41]);
    await apply({ header: header(batch.fileName), shipments: [shipment(41, { expected: '2026-11-28' })] });
    const { counts } = await apply({ header: header(batch.fileName, '2026-11-27'), rejections: [rejection(41)] });
    assert.deepEqual(counts, { rejections: 1, shipments: 0, stockItems: 0, anomalies: 0 });
    assert.equal((await contractOf(db, 41)).production_status, 'Rejected');
    const events = await db('contract_events').where({ contract_id: batch.ids.get(41), source_kind: 'report' }).orderBy('id');
    assert.deepEqual(events.map((e: any) => [e.from_status, e.to_status]), [['InProduction', 'Shipped'], ['Shipped', 'Rejected']]);
  });

  it('refuses a transition the status rules forbid (a contract still Marked) as an anomaly', async () => {
    const batch = await seedBatch(db, [31], { status: 'Marked' });
    const { reportId, counts } = await apply({ header: header(batch.fileName), shipments: [shipment(31, { shipped: '2026-11-26' })] });
    assert.equal(counts.anomalies, 1);
    assert.match((await anomaliesOf(db, reportId))[0]!.reason, /shipment not allowed: contract 1031 is Marked/);
  });

  it('rolls back everything when a record deep in the report is malformed', async () => {
    const batch = await seedBatch(db, Array.from({ length: 30 }, (_, i) => 100 + i));
    const xml = buildReportXml({ header: header(batch.fileName), shipments: Array.from({ length: 30 }, (_, i) => shipment(100 + i, { expected: '2026-11-28' })) })
      .replace('<TrackingNumber>JD128</TrackingNumber>', '<TrackingNumber>JD128</Tracking>');
    const clearFile = join(dir, 'bad.xml');
    writeFileSync(clearFile, xml);
    const h = await readReportHeader(clearFile, read);
    const before = Number((await db('bureau_reports').count({ n: '*' }))[0]!.n);
    await assert.rejects(applyReportFile(db, { clearFile, header: h, remoteName: 'bad', sha256: 'f'.repeat(64), clearSha256: 'f'.repeat(64), kind: 'rsa', localPath: clearFile },
      { read: { ...read, groupSize: 10 }, log: silentLogger, now: '2026-11-26T07:00:00.000Z' }), /Shipment\[29\]: malformed XML/);
    assert.equal((await contractOf(db, 100)).production_status, 'InProduction');
    assert.equal(Number((await db('bureau_reports').count({ n: '*' }))[0]!.n), before);
  });

  it('applies 3,000 shipments across groups and update chunks, found by record sequence or by contract number', async () => {
    const cards = Array.from({ length: 3000 }, (_, i) => 10_000 + i);
    const batch = await seedBatch(db, cards);
    // most records carry their record number in the file; every 7th a wrong one (found by contract number instead)
    const shipments = cards.map((n, i) => shipment(n, { shipped: '2026-11-26', sequence: i % 7 ? i + 1 : 1 }));
    const { counts } = await apply({ header: header(batch.fileName), shipments });
    assert.equal(counts.shipments, 3000);
    const rows = await db('card_contracts').where({ batch_id: batch.batchId, production_status: 'Shipped' }).select('contract_number', 'tracking_number');
    assert.equal(rows.length, 3000);
    assert.ok(rows.every((r: any) => r.tracking_number === `JD${Number(r.contract_number) - 1000}`));
    assert.equal(Number((await db('contract_events').where({ to_status: 'Shipped' }).whereIn('contract_id', [...batch.ids.values()].slice(0, 900)).count({ n: '*' }))[0]!.n), 900);
  });
});
