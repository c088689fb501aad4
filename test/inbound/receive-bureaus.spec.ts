import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedConfig } from '../../src/config/load.js';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import type { Db } from '../../src/db/connection.js';
import { receiveBureaus } from '../../src/inbound/receive-bureau.js';
import { runEveryBureau } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { freeLoopbackPort } from '../../src/sandbox/init.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeProductionJobs, productionReceiveJobs } from '../../src/wiring.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { ReportDrop, seedBothBureaus, signReport, startTwoBureauBench, twoBureauConfig, type BureauKeySet, type TwoBureauKeys } from './bureau-harness.js';
import { header, rejection, reportName, shipment, xmlOf } from './fixtures.js';
import { contractOf } from './seed.js';

const cipher = new PanCipher(newPanKey());
const stock = (closing: number) => [{ productCode: 'GOLD01', opening: 50, received: 0, used: 50 - closing, spoiled: 0, closing, minStock: 5 }];

describeEachDatabase('receive from several bureaus through a real sshd', (ctx) => {
  let bench: Awaited<ReturnType<typeof startTwoBureauBench>> | undefined;
  let sshd: SshdServer;
  let keys: TwoBureauKeys;
  let b1: ReportDrop;
  let emb: ReportDrop;
  let workDir: string;
  let db: Db;

  before(async function () {
    this.timeout(120_000);
    bench = await startTwoBureauBench(this);
    ({ sshd, keys, b1, emb } = bench);
    db = ctx().db;
  });
  after(async () => bench?.stop());
  beforeEach(async () => {
    await db('plastic_stock').delete();
    b1.reset();
    emb.reset();
    workDir = mkdtempSync(join(tmpdir(), 'bx-recv-bureaus-'));
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  /** A report of `bureau` (its code in the header), encrypted to `to`'s report key and signed by `by`'s signing key. */
  function report(bureau: string, sourceFile: string, body: object, to: BureauKeySet, by: BureauKeySet = to): { data: Buffer; sig: Buffer } {
    const data = encryptRsaReport(Buffer.from(xmlOf({ header: { ...header(sourceFile), bureau }, ...body })), to.report.publicPem);
    return { data, sig: signReport(by, data) };
  }
  const seedBoth = (b1Cards: number[], embCards: number[]) => seedBothBureaus(db, b1Cards, embCards);
  const stockRows = async () => (await db('plastic_stock').orderBy('closing')).map((r: any) => [r.bureau_code, r.product_code, Number(r.closing)]);

  it('receives each bureau\'s reports from its own folders with its own key and pins, records the bureau, keeps stock per bureau', async () => {
    const config = twoBureauConfig(sshd, keys, workDir);
    const { first, other } = await seedBoth([1, 2], [3, 4]);
    const [a, e, forged, misplaced] = [reportName(), reportName(), reportName(), reportName()];
    const aReport = report('BUREAU01', first.fileName, { shipments: [shipment(1, { shipped: '2026-11-26' })], stock: stock(10) }, keys.b1);
    b1.put(a, aReport.data, aReport.sig);
    const eReport = report('EMB01', other.fileName, { rejections: [rejection(3)], stock: stock(20) }, keys.emb);
    emb.put(e, eReport.data, eReport.sig);
    // in EMB01's folder: encrypted to EMB01's key but signed with BUREAU01's signing key (not EMB01's pin) ...
    const forgedReport = report('EMB01', other.fileName, { rejections: [rejection(4)] }, keys.emb, keys.b1);
    emb.put(forged, forgedReport.data, forgedReport.sig);
    // ... and a report encrypted to BUREAU01's key and signed by it: EMB01's key does not open it
    const misplacedReport = report('BUREAU01', first.fileName, { rejections: [rejection(2)] }, keys.b1);
    emb.put(misplaced, misplacedReport.data, misplacedReport.sig);

    const result = await makeProductionJobs({ config, db, cipher, log: silentLogger }).receive.run();

    assert.deepEqual(result.applied.map((r) => [r.remoteName, r.shipments, r.rejections, r.stockItems]), [[a, 1, 0, 1], [e, 0, 1, 1]]);
    const why = new Map(result.quarantined.map((q) => [q.remoteName, q.reason]));
    assert.match(why.get(forged)!, /^not authenticated: signature .* does not verify with the pinned bureau report-signing key/);
    assert.match(why.get(misplaced)!, /^(not authenticated|decryption failed)/);
    assert.equal(why.size, 2);
    assert.equal((await contractOf(db, 1)).production_status, 'Shipped');
    assert.equal((await contractOf(db, 2)).production_status, 'InProduction');
    assert.equal((await contractOf(db, 3)).production_status, 'Rejected');
    assert.equal((await contractOf(db, 4)).production_status, 'InProduction');
    const rows = await db('bureau_reports').orderBy('remote_name').select('remote_name', 'bureau_code', 'state');
    assert.deepEqual(rows.map((r: any) => [r.remote_name, r.bureau_code, r.state]),
      [[a, 'BUREAU01', 'applied'], [e, 'EMB01', 'applied'], [forged, 'EMB01', 'quarantined'], [misplaced, 'EMB01', 'quarantined']].sort());
    assert.deepEqual(await stockRows(), [[null, 'GOLD01', 10], ['EMB01', 'GOLD01', 20]], 'the first bureau\'s stock keeps no code; each bureau its own row');
    // each bureau's server folders and local folders
    assert.deepEqual([b1.files(), b1.files('processed')], [[], [a, `${a}.sig`]]);
    assert.deepEqual([emb.files(), emb.files('done'), emb.files('failed')], [[], [e, `${e}.sig`], [forged, `${forged}.sig`, misplaced, `${misplaced}.sig`].sort()]);
    assert.equal(readdirSync(join(workDir, 'archive', 'reports')).length, 1);
    assert.equal(readdirSync(join(workDir, 'bureaus', 'EMB01', 'archive', 'reports')).length, 1);
    assert.equal(readdirSync(join(workDir, 'bureaus', 'EMB01', 'quarantine')).length, 2);
    assert.ok(!existsSync(join(workDir, 'quarantine')) || readdirSync(join(workDir, 'quarantine')).length === 0);
    assert.deepEqual(await db('leases').select('name'), [], 'both leases released');
  });

  it('records naming the other bureau\'s cards are anomalies naming the bureaus, not applied; the bureau\'s own cards and stock in the same report apply', async () => {
    const config = twoBureauConfig(sshd, keys, workDir);
    const { first, other } = await seedBoth([11, 12], [13, 14]);
    // BUREAU01's batch with its code (sent since migration 005): the same as without
    await db('perso_batches').where({ id: first.batchId }).update({ bureau_code: 'BUREAU01' });
    const [own, stray, strayBack] = [reportName(), reportName(), reportName()];
    // BUREAU01's own file, with a rejection of EMB01's card 13 slipped in
    const ownReport = report('BUREAU01', first.fileName, { shipments: [shipment(11, { shipped: '2026-11-26' })], rejections: [rejection(13)] }, keys.b1);
    b1.put(own, ownReport.data, ownReport.sig);
    const strayReport = report('BUREAU01', other.fileName, { shipments: [shipment(13, { shipped: '2026-11-26' })], rejections: [rejection(14)], stock: stock(7) }, keys.b1);
    b1.put(stray, strayReport.data, strayReport.sig);
    const backReport = report('EMB01', first.fileName, { rejections: [rejection(12)] }, keys.emb);
    emb.put(strayBack, backReport.data, backReport.sig);

    const result = await makeProductionJobs({ config, db, cipher, log: silentLogger }).receive.run();

    assert.deepEqual(result.quarantined, []);
    assert.deepEqual(result.applied.map((r) => [r.remoteName, r.shipments, r.rejections, r.stockItems, r.anomalies]),
      [[own, 1, 0, 0, 1], [stray, 0, 0, 1, 2], [strayBack, 0, 0, 0, 1]]);
    assert.equal((await contractOf(db, 11)).production_status, 'Shipped');
    for (const n of [12, 13, 14]) assert.equal((await contractOf(db, n)).production_status, 'InProduction', `card ${n} untouched`);
    const anomalies = await db('report_anomalies as a').join('bureau_reports as r', 'r.id', 'a.report_id').orderBy('a.id').select('r.remote_name', 'a.contract_number', 'a.reason');
    assert.deepEqual(anomalies.map((x: any) => [x.remote_name, x.contract_number]), [[own, '1013'], [stray, '1014'], [stray, '1013'], [strayBack, '1012']]);
    assert.match(anomalies[0].reason, new RegExp(`^contract 1013 was not in ${first.fileName}: it was sent to bureau EMB01, not to bureau BUREAU01 whose report this is$`));
    assert.match(anomalies[1].reason, new RegExp(`^contract 1014: ${other.fileName} was sent to bureau EMB01, not to bureau BUREAU01 whose report this is: not applied$`));
    assert.match(anomalies[3].reason, new RegExp(`${first.fileName} was sent to bureau BUREAU01, not to bureau EMB01`));
    assert.deepEqual(await stockRows(), [[null, 'GOLD01', 7]], 'the stray report\'s stock is its own bureau\'s');
  });

  it('one bureau\'s server unreachable: the other\'s reports are received and applied, the run fails naming the bureau', async function () {
    this.timeout(120_000);
    const config = twoBureauConfig(sshd, keys, workDir, await freeLoopbackPort());
    const { first } = await seedBoth([21], [22]);
    const name = reportName();
    const r = report('BUREAU01', first.fileName, { shipments: [shipment(21, { shipped: '2026-11-26' })] }, keys.b1);
    b1.put(name, r.data, r.sig);
    // EMB01 first in turn this time: its failure must not keep BUREAU01 from its turn
    const jobs = productionReceiveJobs({ config, db, log: silentLogger }).reverse();
    const outcomes = await runEveryBureau(jobs, {});
    assert.deepEqual(outcomes.map((o) => [o.code, 'error' in o]), [['EMB01', true], ['BUREAU01', false]]);
    assert.equal((await contractOf(db, 21)).production_status, 'Shipped');
    assert.deepEqual(b1.files('processed'), [name, `${name}.sig`]);

    // the daemon's and run-once's receive: the same, failing at the end with the bureau named
    const again = reportName();
    const r2 = report('BUREAU01', first.fileName, { shipments: [shipment(21, { shipped: '2026-11-27' })] }, keys.b1);
    b1.put(again, r2.data, r2.sig);
    await assert.rejects(makeProductionJobs({ config, db, cipher, log: silentLogger }).receive.run(), /^Error: bureau EMB01: /);
    assert.equal((await contractOf(db, 21)).ship_date, '2026-11-27', 'BUREAU01 had its turn');
    assert.deepEqual(receiveBureaus(config).map((b) => b.lease), ['receive', 'receive:EMB01']);
  });
});
