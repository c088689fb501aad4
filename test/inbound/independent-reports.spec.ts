import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PROJECT_ROOT } from '../../src/config/load.js';
import type { Db } from '../../src/db/connection.js';
import { applyReportFile } from '../../src/inbound/apply-report.js';
import { parseReport, readReportHeader } from '../../src/inbound/parse-report.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { silentLogger } from '../../src/log.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { BureauFolder, nodeRsaEncrypt, rsaKeyPair } from './fixtures.js';
import { reportPlan, writeReport, type CardOutcome, type GeneratedReport } from './report-generator.js';
import { contractOf, seedBatch } from './seed.js';

/**
 * Reports that the project did not write: the interface's example typed in by hand
 * (test/fixtures/), and reports string-built by test/inbound/report-generator.ts. Each is parsed and
 * applied through the real receive path on a real database; the hand-written one (and a few
 * generated ones) also travel the whole receive job: encrypted, on a real sshd, downloaded.
 */
const EXAMPLE = readFileSync(join(PROJECT_ROOT, 'test', 'fixtures', 'bureau-report-example.xml'), 'utf8');
const EXAMPLE_SOURCE = 'BXISSUER_PERSO_20261125_000001.dat.pgp';
const read = { maxBytes: 50_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };

/** The example, as the interface defines its content: written out here, field by field. */
const EXAMPLE_CONTENT = {
  header: {
    issuer: 'BXISSUER', bureau: 'BUREAU01', reportDate: '2026-11-26', createdAt: '2026-11-26T06:15:00Z',
    sourceFile: EXAMPLE_SOURCE, recordsReceived: 3,
  },
  rejections: [{
    path: 'BureauReport/Rejections/Rejection[1]', recordSequence: 2, cardContractId: '000000000001002', plasticId: '000000005002',
    code: '012', reason: 'Unregistered plastic',
  }],
  shipments: [{
    path: 'BureauReport/Shipments/Shipment[1]', recordSequence: 1, cardContractId: '000000000001001', plasticId: '000000005001',
    expectedShipDate: '2026-11-27', shipDate: null, courier: 'DHL', trackingNumber: 'JD014600003SE',
  }],
  stock: [{ path: 'BureauReport/Stock/Item[1]', productCode: 'CLASSIC01', opening: 5000, received: 0, used: 2, spoiled: 0, closing: 4998, minStock: 1000 }],
};

/** What the database must hold for the example's cards and stock once it is applied. */
async function assertExampleApplied(db: Db): Promise<void> {
  const [c1, c2, c3] = [await contractOf(db, 1), await contractOf(db, 2), await contractOf(db, 3)];
  assert.deepEqual([c1.production_status, c1.expected_ship_date, c1.ship_date, c1.courier, c1.tracking_number],
    ['Shipped', '2026-11-27', null, 'DHL', 'JD014600003SE']);
  assert.deepEqual([c2.production_status, c2.reject_code, c2.reject_reason], ['Rejected', '012', 'Unregistered plastic']);
  assert.equal(c3.production_status, 'InProduction', 'card 1003 is not in the report');
  const stock = await db('plastic_stock').where({ product_code: 'CLASSIC01' }).first();
  assert.deepEqual([stock.opening, stock.received, stock.used, stock.spoiled, stock.closing, stock.min_stock, Boolean(stock.low)].map((v) => (typeof v === 'boolean' ? v : Number(v))),
    [5000, 0, 2, 0, 4998, 1000, false]);
}

/** Applies clear XML as the receive job does after decryption: header first, then the records in one transaction. */
async function applyXml(db: Db, dir: string, xml: string) {
  const sha256 = createHash('sha256').update(xml).digest('hex');
  const clearFile = join(dir, `${sha256}.xml`);
  writeFileSync(clearFile, xml);
  const header = await readReportHeader(clearFile, read);
  return applyReportFile(db, { clearFile, header, remoteName: `R_${sha256.slice(0, 8)}.xml.rsa`, sha256, clearSha256: sha256, kind: 'rsa', localPath: clearFile },
    { read, log: silentLogger, now: '2026-11-26T07:00:00.000Z' });
}

/** Checks each card of a generated report against the outcome it was generated with. */
async function assertOutcomes(db: Db, report: GeneratedReport, message: string): Promise<void> {
  for (const [n, o] of report.outcomes) {
    const c = await contractOf(db, n);
    const expected = expectedRow(o);
    const actual = Object.fromEntries(Object.keys(expected).map((k) => [k, c[k] ?? null]));
    assert.deepEqual(actual, expected, `card ${n} (${o.kind}) ${message}`);
  }
  for (const item of report.expected.stock) {
    const row = await db('plastic_stock').where({ product_code: item.productCode }).first();
    assert.ok(row, `stock ${item.productCode} ${message}`);
    assert.deepEqual([row.opening, row.received, row.used, row.spoiled, row.closing, row.min_stock].map(Number),
      [item.opening, item.received, item.used, item.spoiled, item.closing, item.minStock], `stock ${item.productCode}`);
    assert.equal(Boolean(row.low), item.closing < item.minStock, `stock ${item.productCode} low flag`);
  }
}

function expectedRow(o: CardOutcome): Record<string, unknown> {
  switch (o.kind) {
    case 'none': return { production_status: 'InProduction', reject_code: null, ship_date: null, expected_ship_date: null };
    case 'rejected': return { production_status: 'Rejected', reject_code: o.code, reject_reason: o.reason };
    case 'expected': return { production_status: 'Shipped', expected_ship_date: o.expectedShipDate, ship_date: null, courier: o.courier || null, tracking_number: o.trackingNumber || null };
    case 'shipped': return { production_status: 'Shipped', expected_ship_date: o.expectedShipDate, ship_date: o.shipDate, courier: o.courier || null, tracking_number: o.trackingNumber || null };
  }
}

const FC_SEED = Number(process.env.BX_FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

describeEachDatabase('reports not written by the project: parsed and applied', (ctx) => {
  let dir: string;
  let db: Db;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-indep-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the interface\'s example, typed in by hand: parsed field by field, applied to its cards and stock', async () => {
    assert.deepEqual(await parseReport(EXAMPLE, read), EXAMPLE_CONTENT);
    await seedBatch(db, [1, 2, 3], { fileName: EXAMPLE_SOURCE });
    const { counts } = await applyXml(db, dir, EXAMPLE);
    assert.deepEqual(counts, { rejections: 1, shipments: 1, stockItems: 1, anomalies: 0 });
    await assertExampleApplied(db);
  });

  it('generated reports (any element order, empty or absent lists, stock only): parsed as generated, applied to every card', async function () {
    this.timeout(120_000);
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }).chain((cards) => reportPlan(cards)), async (plan) => {
      const tag = `G${++run}`;
      const cards = plan.outcomes.map((_, i) => ({ n: 20_000 + run * 10 + i, recordSequence: i + 1 }));
      const batch = await seedBatch(db, cards.map((c) => c.n));
      const report = writeReport(plan, batch.fileName, cards, tag);
      assert.deepEqual(await parseReport(report.xml, read), report.expected, report.xml);
      const { counts } = await applyXml(db, dir, report.xml);
      assert.deepEqual(counts, {
        rejections: report.expected.rejections.length, shipments: report.expected.shipments.length, stockItems: report.expected.stock.length, anomalies: 0,
      }, report.xml);
      await assertOutcomes(db, report, report.xml);
    }), { seed: FC_SEED, numRuns: 40, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: false });
    assert.ok(run >= 10, `only ${run} generated reports were tried (seed ${FC_SEED})`);
  });
});

describeEachDatabase('reports not written by the project: through the whole receive job (real sshd)', (ctx) => {
  let server: SshdServer;
  let bureau: BureauFolder;
  let keys: string;
  let ours: ReturnType<typeof rsaKeyPair>;
  let workDir: string;

  before(async function () {
    requireSshd(this);
    server = await startSshd();
    bureau = new BureauFolder(server.root);
    keys = mkdtempSync(join(tmpdir(), 'bx-indep-keys-'));
    ours = rsaKeyPair(keys, 'ours');
    workDir = mkdtempSync(join(tmpdir(), 'bx-indep-work-'));
  });
  after(async () => {
    await server?.stop();
    for (const d of [keys, workDir]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const run = () => {
    const config = testConfig({ workDir, sftp: server.sftpConfig(), reports: { signatures: 'off', rsaPrivateKeyFile: ours.keyFile, stableCheckSeconds: 0 } });
    return makeReceiveJob({ db: ctx().db, config, log: silentLogger, transport: makeSftpTransport(config.sftp, { log: silentLogger }) }).run();
  };

  it('the hand-written example, RSA-encrypted by node-rsa, is downloaded, applied and moved to processed/', async () => {
    const db = ctx().db;
    await seedBatch(db, [1, 2, 3], { fileName: EXAMPLE_SOURCE });
    const name = 'BXISSUER_REPORT_20261126_000001.xml.rsa';
    bureau.put(name, nodeRsaEncrypt(EXAMPLE, ours.publicPem));
    const result = await run();
    assert.deepEqual(result.quarantined, []);
    assert.deepEqual(result.applied.map((r) => [r.remoteName, r.shipments, r.rejections]), [[name, 1, 1]]);
    assert.deepEqual(bureau.files('processed'), [name]);
    await assertExampleApplied(db);
  });

  it('generated reports, RSA-encrypted, all applied in one run', async () => {
    const db = ctx().db;
    const reports: GeneratedReport[] = [];
    const plans = fc.sample(fc.integer({ min: 1, max: 5 }).chain((cards) => reportPlan(cards)), { seed: FC_SEED, numRuns: 4 });
    for (const [i, plan] of plans.entries()) {
      const cards = plan.outcomes.map((_, k) => ({ n: 30_000 + i * 10 + k, recordSequence: k + 1 }));
      const batch = await seedBatch(db, cards.map((c) => c.n));
      const report = writeReport(plan, batch.fileName, cards, `J${i}`);
      reports.push(report);
      bureau.put(`BXISSUER_REPORT_20261126_${String(100 + i).padStart(6, '0')}.xml.rsa`, nodeRsaEncrypt(report.xml, ours.publicPem));
    }
    const result = await run();
    assert.deepEqual(result.quarantined, [], `seed ${FC_SEED}`);
    assert.equal(result.applied.length, plans.length, `seed ${FC_SEED}`);
    for (const report of reports) await assertOutcomes(db, report, `(seed ${FC_SEED})\n${report.xml}`);
  });
});
