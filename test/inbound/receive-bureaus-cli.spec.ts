import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { freeLoopbackPort } from '../../src/sandbox/init.js';
import { runCli } from '../helpers/cli.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { ReportDrop, seedBothBureaus, signReport, startTwoBureauBench, twoBureauDocument, type BureauKeySet, type TwoBureauKeys } from './bureau-harness.js';
import { header, reportName, shipment, xmlOf } from './fixtures.js';
import { contractOf } from './seed.js';

describeEachDatabase('bureau-exchange receive and run-once with two bureaus (CLI, real sshd)', (ctx) => {
  let bench: Awaited<ReturnType<typeof startTwoBureauBench>> | undefined;
  let b1: ReportDrop;
  let emb: ReportDrop;
  let keys: TwoBureauKeys;
  let dir: string;
  /** the same bureaus and database; in `down`, EMB01's server is unreachable */
  let config: string;
  let down: string;
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };

  before(async function () {
    this.timeout(120_000);
    bench = await startTwoBureauBench(this);
    ({ keys, b1, emb } = bench);
    dir = mkdtempSync(join(tmpdir(), 'bx-recv-bureaus-cli-'));
    const write = (name: string, embPort: number) => {
      const file = join(dir, name);
      // JSON is YAML: the test database's own section, written out as it is
      writeFileSync(file, JSON.stringify({ ...twoBureauDocument(bench!.sshd, keys, join(dir, 'var'), embPort), database: { ...ctx().database, migrateOnStart: false } }, null, 2));
      return file;
    };
    config = write('config.yaml', bench.sshd.port);
    down = write('config-down.yaml', await freeLoopbackPort());
  });
  beforeEach(() => {
    b1.reset();
    emb.reset();
  });
  after(async () => {
    await bench?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A shipment report of card n from `bureau`, signed, in its folder. */
  function ship(drop: ReportDrop, bureau: string, bureauKeys: BureauKeySet, fileName: string, n: number, date: string): string {
    const name = reportName();
    const data = encryptRsaReport(Buffer.from(xmlOf({ header: { ...header(fileName), bureau }, shipments: [shipment(n, { shipped: date })] })), bureauKeys.report.publicPem);
    drop.put(name, data, signReport(bureauKeys, data));
    return name;
  }
  const runsOf = async (job: string) => (await ctx().db('job_runs').where({ job }).select('outcome')).map((r: { outcome: string }) => r.outcome);

  it('--bureau names a configured bureau', async () => {
    for (const command of [['receive'], ['run-once', '--receive-only']]) {
      const r = await runCli(['--config', config, ...command, '--bureau', 'NOPE'], env);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /--bureau: "NOPE" is not a configured bureau \(BUREAU01, EMB01\)/);
    }
  });

  it('receive --bureau takes that bureau\'s reports only, recorded as receive:<CODE>; receive takes every bureau in turn', async function () {
    this.timeout(240_000);
    const { db } = ctx();
    const { first, other } = await seedBothBureaus(db, [1], [2]);
    const a = ship(b1, 'BUREAU01', keys.b1, first.fileName, 1, '2026-11-26');
    const e = ship(emb, 'EMB01', keys.emb, other.fileName, 2, '2026-11-26');

    const only = await runCli(['--config', config, 'receive', '--bureau', 'EMB01'], env);
    assert.equal(only.code, 0, only.stderr);
    assert.match(only.stdout, /^Bureau EMB01\n/);
    assert.match(only.stdout, /1 applied, 0 quarantined/);
    assert.equal((await contractOf(db, 2)).production_status, 'Shipped');
    assert.equal((await contractOf(db, 1)).production_status, 'InProduction', 'BUREAU01 not received');
    assert.deepEqual([b1.files(), emb.files('done')], [[a, `${a}.sig`], [e, `${e}.sig`]]);
    assert.deepEqual([await runsOf('receive:EMB01'), await runsOf('receive')], [['ok'], []]);

    const all = await runCli(['--config', config, 'receive', '--json'], env);
    assert.equal(all.code, 0, all.stderr);
    const result = JSON.parse(all.stdout);
    assert.deepEqual(Object.keys(result), ['BUREAU01', 'EMB01']);
    assert.deepEqual([result.BUREAU01.applied.map((r: { remoteName: string }) => r.remoteName), result.EMB01.applied], [[a], []]);
    assert.equal((await contractOf(db, 1)).production_status, 'Shipped');
    assert.deepEqual([await runsOf('receive:EMB01'), await runsOf('receive')], [['ok', 'ok'], ['ok']]);
  });

  it('one bureau unreachable: receive applies the other\'s reports and fails naming the bureau; run-once --bureau receives that bureau only', async function () {
    this.timeout(240_000);
    const { db } = ctx();
    const { first, other } = await seedBothBureaus(db, [11], [12]);
    const a = ship(b1, 'BUREAU01', keys.b1, first.fileName, 11, '2026-11-26');
    const e = ship(emb, 'EMB01', keys.emb, other.fileName, 12, '2026-11-26');

    const r = await runCli(['--config', down, 'receive'], env);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /bureau EMB01: error: /);
    assert.match(r.stderr, /receive failed for 1 of 2 bureaus/);
    assert.match(r.stdout, /Bureau BUREAU01\n[\s\S]*1 applied/);
    assert.equal((await contractOf(db, 11)).production_status, 'Shipped');
    assert.deepEqual(b1.files('processed').filter((f) => f.startsWith(a)), [a, `${a}.sig`]);
    assert.equal((await contractOf(db, 12)).production_status, 'InProduction');

    const once = await runCli(['--config', config, 'run-once', '--receive-only', '--bureau', 'EMB01'], env);
    assert.equal(once.code, 0, once.stdout + once.stderr);
    assert.match(once.stdout, /receive: 1 report\(s\) applied/);
    assert.equal((await contractOf(db, 12)).production_status, 'Shipped');
    assert.ok(emb.files('done').includes(e));
    assert.equal((await runsOf('receive:EMB01')).at(-1), 'ok');
  });
});
