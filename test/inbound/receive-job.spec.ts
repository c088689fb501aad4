import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { JobProgress } from '../../src/progress/job-progress.js';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, appendFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { RECEIVE_LEASE, makeReceiveJob, type ReceiveHooks } from '../../src/inbound/receive-job.js';
import { acquireLease } from '../../src/db/lease.js';
import { requeueQuarantined } from '../../src/inbound/requeue.js';
import { silentLogger } from '../../src/log.js';
import type { Transport } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { requireSshd, startSshd, userIds, type SshdServer } from '../helpers/sshd.js';
import { BureauFolder, header, nodeRsaEncrypt, opensslEncrypt, rejection, reportName, rsaKeyPair, shipment, xmlOf } from './fixtures.js';
import { contractOf, seedBatch } from './seed.js';

describeEachDatabase('inbound/receive-job through sshd', (ctx) => {
  let server: SshdServer;
  let bureau: BureauFolder;
  let keys: string;
  let ours: ReturnType<typeof rsaKeyPair>;
  let other: ReturnType<typeof rsaKeyPair>;
  let gpg: GpgHome;
  let pgpPublicFile: string;
  let pgpSecretFile: string;
  let workDir: string;
  let db: Db;

  before(async function () {
    requireSshd(this);
    server = await startSshd();
    bureau = new BureauFolder(server.root);
    keys = mkdtempSync(join(tmpdir(), 'bx-recv-keys-'));
    ours = rsaKeyPair(keys, 'ours');
    other = rsaKeyPair(keys, 'other');
    gpg = createGpgHome();
    const fpr = gpg.generateKey('BX Issuer <issuer@example.test>');
    pgpPublicFile = gpg.exportPublicKey(fpr);
    pgpSecretFile = gpg.exportSecretKey(fpr);
    db = ctx().db;
  });
  after(async () => {
    await server?.stop();
    gpg?.cleanup();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });
  beforeEach(() => {
    bureau.clear();
    workDir = mkdtempSync(join(tmpdir(), 'bx-recv-work-'));
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  function config(reports: Partial<Config['reports']> = {}, sftp: Partial<Config['sftp']> = {}): Config {
    return testConfig({
      workDir,
      sftp: server.sftpConfig(sftp),
      // decryption, parsing and faults here; signatures in report-signatures.spec.ts
      reports: { signatures: 'off', rsaPrivateKeyFile: ours.keyFile, pgpPrivateKeyFile: pgpSecretFile, stableCheckSeconds: 0, decryptWorkers: 2, ...reports },
    });
  }
  const transportOf = (c: Config): Transport => makeSftpTransport(c.sftp, { log: silentLogger });
  const run = (c = config(), extra: { hooks?: ReceiveHooks; sleep?: (ms: number) => Promise<void>; transport?: Transport; progress?: JobProgress } = {}) =>
    makeReceiveJob({ db, config: c, log: silentLogger, transport: extra.transport ?? transportOf(c), hooks: extra.hooks, sleep: extra.sleep }).run({ progress: extra.progress });
  const reportEvents = async (contractDbId: number) => Number((await db('contract_events').where({ contract_id: contractDbId, source_kind: 'report' }).count({ n: '*' }))[0]!.n);

  it('applies reports encrypted by node-rsa, by openssl pkeyutl and by gpg, then moves them to processed/', async () => {
    const batch = await seedBatch(db, [1, 2, 3]);
    const [a, b, c] = [reportName(), reportName(), reportName('pgp')];
    bureau.put(a, nodeRsaEncrypt(xmlOf({ header: header(batch.fileName), shipments: [shipment(1, { expected: '2026-11-27' })] }), ours.publicPem));
    bureau.put(b, opensslEncrypt(xmlOf({ header: header(batch.fileName), rejections: [rejection(2)] }), ours.pubFile, keys));
    bureau.put(c, gpg.gpgEncrypt(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(3, { shipped: '2026-11-26' })] })), pgpPublicFile));
    const sizes = [a, b, c].reduce((sum, name) => sum + statSync(bureau.path(name)).size, 0);
    const progress = new JobProgress('receive');
    const result = await run(config(), { progress });
    const shown = progress.snapshot();
    assert.deepEqual([shown.step, shown.unit, shown.done, shown.total, shown.bytes], ['receiving reports', 'reports', 3, 3, sizes]);
    assert.deepEqual(result.quarantined, []);
    assert.deepEqual(result.applied.map((r) => [r.remoteName, r.shipments, r.rejections]), [[a, 1, 0], [b, 0, 1], [c, 1, 0]]);
    assert.equal((await contractOf(db, 1)).production_status, 'Shipped');
    assert.equal((await contractOf(db, 2)).production_status, 'Rejected');
    assert.equal((await contractOf(db, 3)).ship_date, '2026-11-26');
    assert.deepEqual(bureau.files(), []);
    assert.deepEqual(bureau.files('processed'), [a, b, c]);
    const rows = await db('bureau_reports').whereIn('remote_name', [a, b, c]).orderBy('id');
    assert.deepEqual(rows.map((r: any) => [r.state, r.remote_state, r.kind]), [['applied', 'processed', 'rsa'], ['applied', 'processed', 'rsa'], ['applied', 'processed', 'pgp']]);
    assert.ok(rows.every((r: any) => existsSync(r.local_path) && r.local_path.endsWith(`${r.sha256}.${r.kind}`)));
    assert.deepEqual(readdirSync(join(workDir, 'inbox')), []);
  });

  it('quarantines each bad input with its reason, keeps a local copy, and still applies the good report', async () => {
    const batch = await seedBatch(db, [11]);
    const good = xmlOf({ header: header(batch.fileName), shipments: [shipment(11, { shipped: '2026-11-26' })] });
    const enc = (xml: string) => encryptRsaReport(Buffer.from(xml), ours.publicPem);
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><BureauReport version="1"><Header>&lol2;</Header></BureauReport>`;
    const cases: Array<[string, Buffer, RegExp]> = [
      ['wrong key', encryptRsaReport(Buffer.from(good), other.publicPem), /^decryption failed: RSA block 1 \(offset 0\) does not decrypt: wrong key/],
      ['truncated', enc(good).subarray(0, 600), /^decryption failed: encrypted size 600 is not a multiple of the 256-byte RSA block/],
      ['garbage', Buffer.alloc(512, 0x41), /^decryption failed: RSA block 1 .* does not decrypt/],
      ['billion laughs', enc(bomb), /^invalid report: .*DOCTYPE or DTD declaration is not allowed/],
      ['oversize', enc(good + ' '.repeat(5000)), /^decryption failed: clear report exceeds the limit of 4096 bytes/],
      ['malformed', enc(good.replace('</Courier>', '</Courir>')), /^invalid report: BureauReport\/Shipments\/Shipment\[1\]: malformed XML/],
      ['wrong version', enc(good.replace('version="1"', 'version="7"')), /^invalid report: BureauReport\/@version: unknown report version "7"/],
      ['oversize file', Buffer.alloc(1_100_000, 1), /^file of 1100000 bytes is larger than any report within reports.maxClearBytes could be \(1054311\): not downloaded/],
      ['pgp to another key', gpg.gpgEncrypt(Buffer.from(good), pgpPublicFile).subarray(0, 40), /^decryption failed: OpenPGP decryption failed/],
    ];
    const names = cases.map(([what]) => reportName(what.startsWith('pgp') ? 'pgp' : 'rsa'));
    cases.forEach(([, data], i) => bureau.put(names[i]!, data));
    const goodName = reportName();
    bureau.put(goodName, enc(good));
    const result = await run(config({ maxClearBytes: 4096 }));
    assert.deepEqual(result.applied.map((r) => r.remoteName), [goodName]);
    assert.equal(result.quarantined.length, cases.length);
    cases.forEach(([what, , reason], i) => {
      const q = result.quarantined.find((r) => r.remoteName === names[i]);
      assert.ok(q, `${what} was not quarantined`);
      assert.match(q.reason, reason, what);
    });
    assert.deepEqual(bureau.files('failed'), [...names].sort());
    assert.deepEqual(bureau.files('processed'), [goodName]);
    const rows = await db('bureau_reports').whereIn('remote_name', names);
    assert.equal(rows.length, cases.length - 1, 'a row for each report read (the oversize file was never downloaded)');
    assert.ok(rows.every((r: any) => r.state === 'quarantined' && r.remote_state === 'failed' && existsSync(r.local_path) && r.local_path.startsWith(join(workDir, 'quarantine'))));
    assert.equal((await contractOf(db, 11)).production_status, 'Shipped');
    assert.deepEqual(readdirSync(join(workDir, 'inbox')), []);
  });

  it('applies a duplicate report once, records anomalies for unknown and already-shipped contracts', async () => {
    const batch = await seedBatch(db, [21, 22]);
    const first = xmlOf({ header: header(batch.fileName), shipments: [shipment(21, { shipped: '2026-11-26' })] });
    const data = encryptRsaReport(Buffer.from(first), ours.publicPem);
    const [a, again] = [reportName(), reportName()];
    bureau.put(a, data);
    bureau.put(again, data);
    const r1 = await run();
    assert.deepEqual([r1.applied.length, r1.duplicates], [1, 1]);
    assert.equal(await reportEvents(batch.ids.get(21)!), 1);
    assert.deepEqual(bureau.files('processed'), [a, again]);
    bureau.put(a, data); // re-sent under the same name
    const r2 = await run();
    assert.deepEqual([r2.applied.length, r2.duplicates], [0, 1]);
    assert.ok(bureau.files('processed').some((n) => n.startsWith(`${a}.`)));
    const late = reportName();
    bureau.put(late, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), rejections: [rejection(21), rejection(99)], shipments: [shipment(22, { expected: '2026-11-28' })] })), ours.publicPem));
    const r3 = await run();
    assert.deepEqual(r3.applied, [{ remoteName: late, rejections: 0, shipments: 1, stockItems: 0, anomalies: 2 }]);
    assert.equal((await contractOf(db, 21)).production_status, 'Shipped');
    assert.equal(await reportEvents(batch.ids.get(21)!), 1);
  });

  it('applies a report once when the bureau sends it again encrypted anew (another file, the same XML), RSA or OpenPGP', async () => {
    const batch = await seedBatch(db, [25, 26]);
    const xml = Buffer.from(xmlOf({ header: header(batch.fileName), rejections: [rejection(26)], shipments: [shipment(25, { shipped: '2026-11-26' })] }));
    const first = reportName();
    bureau.put(first, encryptRsaReport(xml, ours.publicPem));
    const r1 = await run();
    assert.deepEqual([r1.applied.length, r1.duplicates], [1, 0]);
    const applied = await db('bureau_reports').where({ remote_name: first }).first();
    const [again, pgp] = [reportName(), reportName('pgp')];
    bureau.put(again, encryptRsaReport(xml, ours.publicPem));
    bureau.put(pgp, gpg.gpgEncrypt(xml, pgpPublicFile));
    const r2 = await run();
    assert.deepEqual([r2.applied.length, r2.quarantined.length, r2.duplicates], [0, 0, 2]);
    assert.deepEqual(bureau.files(), []);
    for (const name of [first, again, pgp]) assert.ok(bureau.files('processed').includes(name), name);
    assert.equal(await reportEvents(batch.ids.get(25)!), 1, 'the shipment once in the card history');
    assert.equal(await reportEvents(batch.ids.get(26)!), 1, 'the rejection once');
    const rows = await db('bureau_reports').whereIn('remote_name', [first, again, pgp]).orderBy('id');
    assert.deepEqual(rows.map((r: any) => r.remote_name), [first], 'one row: the report applied');
    assert.equal(rows[0].clear_sha256, createHash('sha256').update(xml).digest('hex'));
    assert.equal(rows[0].remote_state, applied.remote_state, "the first file's row is left as it was");
    assert.deepEqual(readdirSync(join(workDir, 'inbox')), []);
  });

  it('leaves hostile and foreign names alone, and never writes them locally', async () => {
    const batch = await seedBatch(db, [31]);
    const data = encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(31, { shipped: '2026-11-26' })] })), ours.publicPem);
    const hostile = ['..BXISSUER_REPORT_20261126_000001.xml.rsa', 'BXISSUER_REPORT_20261126_000001.xml.rsa\nx', 'a\\..\\..\\etc.xml.rsa', ' BXISSUER_REPORT_20261126_000002.xml.rsa',
      `BXISSUER_REPORT_20261126_${'9'.repeat(200)}.xml.rsa`, 'OTHER_REPORT_20261126_000001.xml.rsa', 'BXISSUER_REPORT_20261126_000003.xml.rsa.part'];
    for (const name of hostile) bureau.put(name, data);
    const result = await run();
    assert.deepEqual([result.applied.length, result.quarantined.length, result.duplicates], [0, 0, 0]);
    assert.deepEqual(bureau.files(), [...hostile].sort());
    assert.equal((await contractOf(db, 31)).production_status, 'InProduction');
    const local = ['inbox', 'quarantine', 'archive/reports'].flatMap((d) => readdirSync(join(workDir, d)));
    assert.deepEqual(local, []);
  });

  it('skips a file that is too recent or still growing, and takes it once it is complete', async () => {
    const batch = await seedBatch(db, [41, 42]);
    const data = encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(41, { shipped: '2026-11-26' })] })), ours.publicPem);
    const [growing, fresh] = [reportName(), reportName()];
    bureau.put(growing, data.subarray(0, 256));
    bureau.put(fresh, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(42, { shipped: '2026-11-26' })] })), ours.publicPem), 5);
    const grow = async () => appendFileSync(bureau.path(growing), data.subarray(256));
    const c = config({ stableCheckSeconds: 0.2, minAgeSeconds: 0 });
    const first = await run(config({ stableCheckSeconds: 0.2 }), { sleep: grow });
    assert.deepEqual([first.applied.length, first.quarantined.length], [0, 0]);
    assert.deepEqual(bureau.files(), [fresh, growing].sort());
    const second = await run(c);
    assert.deepEqual(second.applied.map((r) => r.remoteName).sort(), [fresh, growing].sort());
    assert.equal(second.duplicates, 0);
    assert.equal(await reportEvents(batch.ids.get(41)!), 1);
    assert.equal(await reportEvents(batch.ids.get(42)!), 1);
  });

  it('retries a failed remote move on the next run without applying again; deletes by config', async () => {
    const batch = await seedBatch(db, [51, 52]);
    const name = reportName();
    bureau.put(name, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(51, { shipped: '2026-11-26' })] })), ours.publicPem));
    const c = config();
    const real = transportOf(c);
    const failingMoves: Transport = { connect: async () => ({ ...(await real.connect()), move: async () => { throw new Error('connection reset'); } }) };
    const first = await run(c, { transport: failingMoves });
    assert.equal(first.applied.length, 1);
    assert.deepEqual(bureau.files(), [name]);
    assert.equal((await db('bureau_reports').where({ remote_name: name }).first()).remote_state, 'pending');
    const second = await run(c);
    assert.deepEqual([second.applied.length, second.duplicates], [0, 1]);
    assert.deepEqual(bureau.files('processed'), [name]);
    assert.equal((await db('bureau_reports').where({ remote_name: name }).first()).remote_state, 'processed');
    assert.equal(await reportEvents(batch.ids.get(51)!), 1);
    const deleted = reportName();
    bureau.put(deleted, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(52, { shipped: '2026-11-26' })] })), ours.publicPem));
    await run(config({}, { afterApply: 'delete' }));
    assert.deepEqual(bureau.files(), []);
    assert.ok(!bureau.files('processed').includes(deleted));
    assert.equal((await db('bureau_reports').where({ remote_name: deleted }).first()).remote_state, 'deleted');
  });

  it('leaves a report the server refuses to us (permission denied) where it is, receives the others, then fails naming it', async () => {
    const batch = await seedBatch(db, [71, 72]);
    const [refused, good] = [reportName(), reportName()];
    bureau.put(refused, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(71, { shipped: '2026-11-26' })] })), ours.publicPem));
    bureau.put(good, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(72, { shipped: '2026-11-26' })] })), ours.publicPem));
    // the SFTP user (nobody) may list it but not read it: the bureau's upload left it root's and 0600
    chownSync(bureau.path(refused), 0, 0);
    chmodSync(bureau.path(refused), 0o600);
    await assert.rejects(run(), (err: Error) =>
      /the server refused 1 report\(s\) to us \(permission denied\), left there for the next run: /.test(err.message) && err.message.includes(refused) && !err.message.includes(good));
    assert.equal(await reportEvents(batch.ids.get(72)!), 1, 'the report after the refused one was applied');
    assert.equal(await reportEvents(batch.ids.get(71)!), 0);
    assert.deepEqual(bureau.files(), [refused]);
    assert.deepEqual(bureau.files('processed'), [good]);
    assert.equal(await db('bureau_reports').where({ remote_name: refused }).first(), undefined, 'nothing recorded, nothing quarantined');
    const { uid, gid } = userIds('nobody');
    chownSync(bureau.path(refused), uid, gid);
    const next = await run();
    assert.deepEqual(next.applied.map((r) => r.remoteName), [refused]);
    assert.equal(await reportEvents(batch.ids.get(71)!), 1);
  });

  it('requeues a quarantined report once the cause is fixed: it applies on the next run', async () => {
    const batch = await seedBatch(db, [61]);
    const name = reportName();
    bureau.put(name, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(61, { shipped: '2026-11-26' })] })), other.publicPem));
    const first = await run();
    assert.match(first.quarantined[0]!.reason, /wrong key/);
    assert.deepEqual(bureau.files('failed'), [name]);
    const fixed = config({ rsaPrivateKeyFile: other.keyFile });
    const row = await db('bureau_reports').where({ remote_name: name }).first();
    const requeued = await requeueQuarantined({ db, config: fixed, transport: transportOf(fixed), log: silentLogger }, Number(row.id));
    assert.deepEqual(requeued, [{ id: Number(row.id), remoteName: name, refused: null }]);
    assert.deepEqual(bureau.files(), [name]);
    const again = await run(fixed);
    assert.deepEqual(again.applied.map((r) => r.remoteName), [name]);
    assert.equal((await contractOf(db, 61)).production_status, 'Shipped');
    assert.deepEqual(await requeueQuarantined({ db, config: fixed, transport: transportOf(fixed), log: silentLogger }, Number(row.id)), []);
  });

  it('a run whose lease ran out (a process frozen past it) neither quarantines nor applies: the runner holding it now takes the reports', async function () {
    this.timeout(60_000);
    const batch = await seedBatch(db, [95]);
    const [bad, good] = [reportName(), reportName()];
    bureau.put(bad, encryptRsaReport(Buffer.from('<BureauReport version="1"><Header>'), ours.publicPem));
    bureau.put(good, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(95, { shipped: '2026-11-26' })] })), ours.publicPem));
    const short = { ...config(), daemon: { ...config().daemon, leaseTtlSeconds: 5 } };
    const lost = async () => {
      await db('leases').where({ name: RECEIVE_LEASE }).update({ owner: 'other-host:1:abcd' });
      await sleep(4_000);
    };
    await assert.rejects(run(short, { hooks: { afterDecrypt: lost } }), /the receive lease was lost/);
    assert.deepEqual(await db('bureau_reports').whereIn('remote_name', [bad, good]).select('id'), [], 'nothing quarantined, nothing applied');
    assert.deepEqual(bureau.files().sort(), [bad, good].sort(), 'both left on the server');
    await db('leases').where({ name: RECEIVE_LEASE }).delete();
    const next = await run();
    assert.deepEqual([next.applied.map((r) => r.remoteName), next.quarantined.map((r) => r.remoteName)], [[good], [bad]]);
  });

  it('refuses to run while another receive run holds the lease', async () => {
    assert.ok(await acquireLease(db, RECEIVE_LEASE, 'other-host:1:abcd', 60_000));
    try {
      await assert.rejects(run(), /another runner holds the receive lease \(other-host:1:abcd/);
    } finally {
      await db('leases').where({ name: RECEIVE_LEASE }).delete();
    }
  });
});
