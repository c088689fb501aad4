import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { confirmBatch } from '../../src/db/batches.js';
import { anomaliesOf } from '../../src/db/reports.js';
import { stockLevels } from '../../src/db/stock.js';
import { InputError } from '../../src/errors.js';
import { SendNotFinishedError } from '../../src/inbound/apply-report.js';
import { buildReportXml, type ReportInput } from '../../src/inbound/report-format.js';
import { describeEachDatabase } from '../helpers/db.js';
import { header, nodeRsaEncrypt, reportName, shipment } from './fixtures.js';
import { startReceiveBench, type ReceiveBench } from './harness.js';
import { applyBuiltReport, contractOf, seedBatch } from './seed.js';

/**
 * Which report is applied to what: a report dated in the future (it would freeze the stock levels),
 * a source file named in other letter case (MariaDB compares text without case), and a report on a
 * file whose send is not confirmed yet (its records would all be anomalies, lost for good).
 */
const read = { maxBytes: 50_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };
const stockItem = (productCode: string, closing: number) => ({ productCode, opening: 5000, received: 0, used: 0, spoiled: 0, closing, minStock: 100 });
const rejectionOf = (reason: string) => ({ recordSequence: 1, cardContractId: '1001', plasticId: '5001', code: '012', reason });

describeEachDatabase('inbound/report apply: dates, names, unconfirmed sends', (ctx) => {
  let dir: string;
  let db: Db;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-report-apply-apply-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const apply = (report: ReportInput, now?: string) => applyBuiltReport(db, dir, report, read, now);
  const reportCount = async () => Number((await db('bureau_reports').count({ n: '*' }))[0]!.n);
  const stockOf = async (productCode: string) => (await stockLevels(db)).find((s) => s.product_code === productCode);

  it('refuses a report dated more than 7 days ahead, which would have frozen the stock level until that date; 7 days ahead is accepted', async () => {
    const before = await reportCount();
    await assert.rejects(apply({ header: header('', '2062-11-26'), stock: [stockItem('FUTURE01', 500)] }, '2026-11-26T07:00:00.000Z'),
      (err: Error) => err instanceof InputError && /BureauReport\/Header\/ReportDate: 2062-11-26 is in the future/.test(err.message));
    await assert.rejects(apply({ header: header('', '2026-12-04'), stock: [stockItem('FUTURE01', 500)] }, '2026-11-26T23:59:00.000Z'), InputError);
    assert.equal(await reportCount(), before, 'nothing of a refused report is written');
    assert.equal(await stockOf('FUTURE01'), undefined);
    await apply({ header: header('', '2026-11-27'), stock: [stockItem('FUTURE01', 400)] }, '2026-11-20T00:00:00.000Z');
    await apply({ header: header('', '2026-11-28'), stock: [stockItem('FUTURE01', 90)] }, '2026-11-28T06:00:00.000Z');
    assert.deepEqual([(await stockOf('FUTURE01'))?.closing, (await stockOf('FUTURE01'))?.low], [90, true]);
  });

  it('finds the source file by its exact name: one in other letter case is not ours, on MariaDB as elsewhere', async () => {
    const batch = await seedBatch(db, [41]);
    const { reportId, counts } = await apply({ header: header(batch.fileName.toLowerCase()), shipments: [shipment(41, { shipped: '2026-11-26', sequence: 1 })] });
    assert.deepEqual(counts, { rejections: 0, shipments: 0, stockItems: 0, anomalies: 1 });
    assert.match((await anomaliesOf(db, reportId))[0]!.reason, /is not one of our personalization files/);
    assert.equal((await contractOf(db, 41)).production_status, 'InProduction');
  });

  it('leaves a report on a file whose send is not confirmed yet unapplied, and applies it once the batch is sent', async () => {
    const batch = await seedBatch(db, [51, 52], { status: 'Marked' });
    // uploaded (the bureau has the file) but not confirmed: the cards are still Marked, without a batch
    await db('perso_batches').where({ id: batch.batchId }).update({ state: 'uploaded', sent_at: null });
    await db('card_contracts').whereIn('id', [...batch.ids.values()]).update({ batch_id: null });
    const report: ReportInput = { header: header(batch.fileName), rejections: [{ ...rejectionOf('Unreadable chip'), recordSequence: 2, cardContractId: '1052', plasticId: '5052' }], shipments: [shipment(51, { shipped: '2026-11-26', sequence: 1 })] };
    const before = await reportCount();
    await assert.rejects(apply(report), (err: Error) => err instanceof SendNotFinishedError && err.message.includes(batch.fileName) && /is uploaded/.test(err.message));
    assert.equal(await reportCount(), before, 'no row: the same report is taken again');
    assert.equal((await contractOf(db, 51)).production_status, 'Marked');
    await confirmBatch(db, batch.batchId, null, '2026-11-26T08:00:00.000Z');
    const { counts } = await apply(report, '2026-11-26T09:00:00.000Z');
    assert.deepEqual(counts, { rejections: 1, shipments: 1, stockItems: 0, anomalies: 0 });
    assert.equal((await contractOf(db, 51)).production_status, 'Shipped');
    assert.deepEqual([(await contractOf(db, 52)).production_status, (await contractOf(db, 52)).reject_reason], ['Rejected', 'Unreadable chip']);
  });
});

describeEachDatabase('inbound/report apply: a report on an unconfirmed send, through the receive job', (ctx) => {
  let bench: ReceiveBench;
  let db: Db;
  let workDir: string;
  let config: Config;

  before(async function () {
    this.timeout(60_000);
    bench = await startReceiveBench(this);
    db = ctx().db;
  });
  after(async () => { await bench?.stop(); });
  beforeEach(() => {
    bench.bureau.clear();
    workDir = mkdtempSync(join(tmpdir(), 'bx-report-apply-recv-'));
    config = bench.config(workDir);
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  it('stays on the server (neither applied nor quarantined) until the send confirms the batch, then applies; the reports after it are received', async () => {
    const batch = await seedBatch(db, [71], { status: 'Marked' });
    await db('perso_batches').where({ id: batch.batchId }).update({ state: 'uploaded', sent_at: null });
    await db('card_contracts').where({ id: batch.ids.get(71) }).update({ batch_id: null });
    const name = reportName();
    bench.bureau.put(name, nodeRsaEncrypt(buildReportXml({ header: header(batch.fileName), shipments: [shipment(71, { shipped: '2026-11-26', sequence: 1 })] }), bench.ours.publicPem));
    // a report after it, on a file whose send is finished: received in the same run
    const other = await seedBatch(db, [72]);
    const after = reportName();
    assert.ok(name < after);
    bench.bureau.put(after, nodeRsaEncrypt(buildReportXml({ header: header(other.fileName), shipments: [shipment(72, { shipped: '2026-11-26', sequence: 1 })] }), bench.ours.publicPem));
    await assert.rejects(bench.run(db, config), (err: Error) => err instanceof SendNotFinishedError && err.message.includes(name)
      && err.message.endsWith('; the other reports were received') && !err.message.includes(after));
    assert.deepEqual([bench.bureau.files(), bench.bureau.files('failed'), bench.bureau.files('processed')], [[name], [], [after]]);
    assert.equal((await contractOf(db, 72)).production_status, 'Shipped');
    assert.equal(await db('bureau_reports').where({ remote_name: name }).first(), undefined);
    await confirmBatch(db, batch.batchId, null, new Date().toISOString());
    const result = await bench.run(db, config);
    assert.deepEqual(result.applied.map((a) => [a.remoteName, a.shipments, a.anomalies]), [[name, 1, 0]]);
    assert.deepEqual(bench.bureau.files('processed').sort(), [after, name].sort());
    assert.equal((await contractOf(db, 71)).production_status, 'Shipped');
  });

  it('quarantines a report dated years ahead, naming the field', async () => {
    const name = reportName();
    bench.bureau.put(name, nodeRsaEncrypt(buildReportXml({ header: header('', '2099-01-01'), stock: [stockItem('AHEAD01', 10)] }), bench.ours.publicPem));
    const result = await bench.run(db, config);
    assert.equal(result.quarantined.length, 1);
    assert.match(result.quarantined[0]!.reason, /invalid report: BureauReport\/Header\/ReportDate: 2099-01-01 is in the future/);
    assert.deepEqual(bench.bureau.files('failed'), [name]);
    assert.equal((await stockLevels(db)).find((s) => s.product_code === 'AHEAD01'), undefined);
  });
});
