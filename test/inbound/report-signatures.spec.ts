import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { ConfigError } from '../../src/errors.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { requeueQuarantined } from '../../src/inbound/requeue.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { BureauFolder, header, nodeRsaEncrypt, reportName, rsaKeyPair, shipment, xmlOf } from './fixtures.js';
import { contractOf, seedBatch } from './seed.js';

/** The pin of a PEM public key, computed by openssl (independently of our code), as docs/operations.md shows. */
function opensslSpkiSha256(pubFile: string): string {
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', pubFile, '-outform', 'DER']);
  return execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der }).toString().split(' ')[0]!;
}

/** A detached RSA-PSS signature made by openssl, as the bureau's tooling would. */
function opensslSign(keyFile: string, data: Buffer, dir: string, saltLength = 32): Buffer {
  const file = join(dir, 'to-sign.bin');
  writeFileSync(file, data);
  return execFileSync('openssl', [
    'dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_pss_saltlen:${saltLength}`, '-sigopt', 'rsa_mgf1_md:sha256',
    '-sign', keyFile, file,
  ]);
}

function collectingLogger(): { log: Logger; lines: () => string[] } {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _e, done) { lines.push(chunk.toString()); done(); } });
  return { log: createLogger({ level: 'info', destination }), lines: () => lines };
}

describeEachDatabase('inbound/report signatures through the receive job and sshd', (ctx) => {
  let server: SshdServer;
  let bureau: BureauFolder;
  let keys: string;
  let ours: ReturnType<typeof rsaKeyPair>;
  let signer: ReturnType<typeof rsaKeyPair>;
  let mallory: ReturnType<typeof rsaKeyPair>;
  let gpg: GpgHome;
  let issuerPgpPublic: string;
  let issuerPgpSecret: string;
  let bureauPgpPublic: string;
  let bureauFpr: string;
  let malloryFpr: string;
  let workDir: string;
  let db: Db;

  before(async function () {
    requireSshd(this);
    server = await startSshd();
    bureau = new BureauFolder(server.root);
    keys = mkdtempSync(join(tmpdir(), 'bx-sig-keys-'));
    ours = rsaKeyPair(keys, 'ours');
    signer = rsaKeyPair(keys, 'bureau-signing');
    mallory = rsaKeyPair(keys, 'mallory-signing');
    gpg = createGpgHome();
    const issuerFpr = gpg.generateKey('BX Issuer <issuer@example.test>');
    issuerPgpPublic = gpg.exportPublicKey(issuerFpr);
    issuerPgpSecret = gpg.exportSecretKey(issuerFpr);
    bureauFpr = gpg.generateKey('Bureau <bureau@example.test>');
    bureauPgpPublic = gpg.exportPublicKey(bureauFpr);
    malloryFpr = gpg.generateKey('Mallory <mallory@example.test>');
    db = ctx().db;
  });
  after(async () => {
    await server?.stop();
    gpg?.cleanup();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });
  beforeEach(() => {
    bureau.clear();
    workDir = mkdtempSync(join(tmpdir(), 'bx-sig-work-'));
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  function config(reports: Partial<Config['reports']> = {}, sftp: Partial<Config['sftp']> = {}): Config {
    return testConfig({
      workDir,
      sftp: server.sftpConfig(sftp),
      pgp: { bureauPublicKeyFile: bureauPgpPublic, bureauFingerprint: bureauFpr },
      reports: {
        rsaPrivateKeyFile: ours.keyFile, pgpPrivateKeyFile: issuerPgpSecret, stableCheckSeconds: 0, decryptWorkers: 1,
        signingPublicKeyFile: signer.pubFile, signingKeySha256: opensslSpkiSha256(signer.pubFile), ...reports,
      },
    });
  }
  const run = (c = config(), log: Logger = silentLogger) =>
    makeReceiveJob({ db, config: c, log, transport: makeSftpTransport(c.sftp, { log: silentLogger }) }).run();
  const shippedXml = (fileName: string, n: number) => xmlOf({ header: header(fileName), shipments: [shipment(n, { shipped: '2026-11-26' })] });
  const forgedStockXml = () => xmlOf({
    header: { ...header(''), recordsReceived: null },
    stock: [{ productCode: 'GOLD01', opening: 1, received: 0, used: 0, spoiled: 0, closing: 1, minStock: 0 }],
  });

  it('quarantines every unauthenticated report with its reason, applies the authentic pair of each kind, and moves .sig files with their reports', async () => {
    const batch = await seedBatch(db, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const rsa = (n: number) => nodeRsaEncrypt(shippedXml(batch.fileName, n), ours.publicPem);
    const sign = (data: Buffer, key = signer.keyFile, salt = 32) => opensslSign(key, data, keys, salt);
    const flipped = (sig: Buffer) => Buffer.from(sig.map((b, i) => (i === 100 ? b ^ 0x01 : b)));
    const other = rsa(9);
    type Case = { what: string; kind: 'rsa' | 'pgp'; data: Buffer; sig?: Buffer; reason: RegExp; card: number };
    const cases: Case[] = [
      { what: 'forged stock .pgp, encrypted to our key, unsigned', kind: 'pgp', data: gpg.gpgEncrypt(Buffer.from(forgedStockXml()), issuerPgpPublic), reason: /^not authenticated: the message is not signed; a \.pgp report must be signed by the pinned bureau OpenPGP key$/, card: 0 },
      { what: '.pgp signed by another key', kind: 'pgp', data: gpg.gpgEncrypt(Buffer.from(shippedXml(batch.fileName, 1)), issuerPgpPublic, { signWith: malloryFpr }), reason: /^not authenticated: the message signature is not valid: Could not find signing key/, card: 1 },
      { what: '.rsa without .sig', kind: 'rsa', data: rsa(2), reason: /^not authenticated: signature missing: no BXISSUER_REPORT_\d+_\d+\.xml\.rsa\.sig beside the report$/, card: 2 },
      { what: '.rsa with a .sig of another key', kind: 'rsa', data: rsa(3), sig: sign(rsa(3), mallory.keyFile), reason: /^not authenticated: signature .*\.sig does not verify with the pinned bureau report-signing key/, card: 3 },
      { what: '.sig with a flipped byte', kind: 'rsa', data: rsa(4), reason: /does not verify with the pinned bureau report-signing key/, card: 4 },
      { what: '.sig of another report', kind: 'rsa', data: rsa(5), sig: sign(other), reason: /does not verify with the pinned bureau report-signing key/, card: 5 },
      { what: '.sig cut short', kind: 'rsa', data: rsa(6), reason: /^not authenticated: signature .*\.sig is 255 bytes, a signature of the 2048-bit bureau report-signing key is 256$/, card: 6 },
      { what: 'PSS with another salt length', kind: 'rsa', data: rsa(7), reason: /does not verify/, card: 7 },
      { what: '.sig too large to be one', kind: 'rsa', data: rsa(10), sig: Buffer.alloc(5000, 1), reason: /^not authenticated: signature .*\.sig is 5000 bytes: too large to be a signature, not read$/, card: 10 },
    ];
    cases[4]!.sig = flipped(sign(cases[4]!.data));
    cases[6]!.sig = sign(cases[6]!.data).subarray(1);
    cases[7]!.sig = sign(cases[7]!.data, signer.keyFile, 20);
    const names = cases.map((c) => reportName(c.kind));
    // the bureau uploads the .sig first
    cases.forEach((c, i) => { if (c.sig) bureau.put(`${names[i]}.sig`, c.sig); bureau.put(names[i]!, c.data); });
    const goodRsa = reportName('rsa');
    const goodRsaData = rsa(8);
    bureau.put(`${goodRsa}.sig`, sign(goodRsaData));
    bureau.put(goodRsa, goodRsaData);
    const goodPgp = reportName('pgp');
    bureau.put(goodPgp, gpg.gpgEncrypt(Buffer.from(shippedXml(batch.fileName, 9)), issuerPgpPublic, { signWith: bureauFpr }));
    const lonely = `${reportName('rsa')}.sig`;
    bureau.put(lonely, sign(goodRsaData));

    const result = await run();

    assert.deepEqual(result.applied.map((r) => r.remoteName), [goodRsa, goodPgp]);
    cases.forEach((c, i) => {
      const q = result.quarantined.find((r) => r.remoteName === names[i]);
      assert.ok(q, `${c.what}: not quarantined (${JSON.stringify(result)})`);
      assert.match(q.reason, c.reason, `${c.what}: ${q.reason}`);
    });
    assert.equal(result.quarantined.length, cases.length);
    for (const c of cases.filter((x) => x.card)) assert.equal((await contractOf(db, c.card)).production_status, 'InProduction', `${c.what}: applied nothing`);
    assert.equal(await db('plastic_stock').where({ product_code: 'GOLD01' }).first(), undefined, 'the forged stock was not applied');
    assert.equal((await contractOf(db, 8)).production_status, 'Shipped');
    assert.equal((await contractOf(db, 9)).production_status, 'Shipped');
    const sigsOf = (list: string[]) => list.map((n, i) => (cases[i]?.sig ? [n, `${n}.sig`] : [n])).flat();
    assert.deepEqual(bureau.files('failed'), sigsOf(names).sort());
    assert.deepEqual(bureau.files('processed'), [goodRsa, `${goodRsa}.sig`, goodPgp].sort());
    assert.deepEqual(bureau.files(), [lonely], 'a .sig without its report is left alone');
    const rows = await db('bureau_reports').whereIn('remote_name', names);
    assert.ok(rows.length === cases.length && rows.every((r: any) => r.state === 'quarantined' && /^not authenticated: /.test(r.error)));

    const again = await run();
    assert.deepEqual([again.applied.length, again.quarantined.length], [0, 0], 'the lone .sig stops nothing, run after run');
    assert.deepEqual(bureau.files(), [lonely]);
  });

  it('takes a report whose .sig came before it, once the report arrives (and deletes both with afterApply: delete)', async () => {
    const batch = await seedBatch(db, [21]);
    const name = reportName('rsa');
    const data = nodeRsaEncrypt(shippedXml(batch.fileName, 21), ours.publicPem);
    bureau.put(`${name}.sig`, opensslSign(signer.keyFile, data, keys));
    const first = await run(config({}, { afterApply: 'delete' }));
    assert.deepEqual([first.applied.length, first.quarantined.length], [0, 0]);
    assert.deepEqual(bureau.files(), [`${name}.sig`]);
    bureau.put(name, data);
    const second = await run(config({}, { afterApply: 'delete' }));
    assert.deepEqual(second.applied.map((r) => r.remoteName), [name]);
    assert.deepEqual([bureau.files(), bureau.files('processed')], [[], []]);
    assert.equal((await contractOf(db, 21)).production_status, 'Shipped');
  });

  it('with reports.signatures: off applies unsigned reports and warns on every run that they are unauthenticated', async () => {
    const batch = await seedBatch(db, [31, 32]);
    const [a, b] = [reportName('rsa'), reportName('pgp')];
    bureau.put(a, nodeRsaEncrypt(shippedXml(batch.fileName, 31), ours.publicPem));
    bureau.put(b, gpg.gpgEncrypt(Buffer.from(shippedXml(batch.fileName, 32)), issuerPgpPublic));
    const { log, lines } = collectingLogger();
    const off = config({ signatures: 'off', signingPublicKeyFile: undefined, signingKeySha256: undefined });
    const result = await run(off, log);
    assert.deepEqual(result.applied.map((r) => r.remoteName), [a, b]);
    await run(off, log);
    const warnings = lines().map((l) => JSON.parse(l)).filter((l) => l.level === 'warn' && /reports are NOT authenticated/.test(l.msg));
    assert.equal(warnings.length, 2, 'one warning per run');
  });

  it('a wrong pin or a missing signing key fails the run (a local fault) and quarantines nothing', async () => {
    const batch = await seedBatch(db, [41]);
    const name = reportName('rsa');
    const data = nodeRsaEncrypt(shippedXml(batch.fileName, 41), ours.publicPem);
    bureau.put(`${name}.sig`, opensslSign(signer.keyFile, data, keys));
    bureau.put(name, data);
    await assert.rejects(run(config({ signingKeySha256: opensslSpkiSha256(mallory.pubFile) })),
      (err: Error) => err instanceof ConfigError && /reports\.signingPublicKeyFile .* has SPKI SHA-256 [0-9a-f]{64}, which does not match the pinned reports\.signingKeySha256/.test(err.message));
    await assert.rejects(run(config({ signingPublicKeyFile: undefined, signingKeySha256: undefined })),
      (err: Error) => err instanceof ConfigError && /reports\.signingPublicKeyFile .*is required to verify \.rsa reports/.test(err.message));
    await assert.rejects(run(config({ signingPublicKeyFile: join(keys, 'missing.pem') })), /reports\.signingPublicKeyFile .*missing\.pem cannot be read: ENOENT/);
    assert.deepEqual(bureau.files(), [name, `${name}.sig`].sort());
    assert.equal(await db('bureau_reports').where({ remote_name: name }).first(), undefined);
    const fixed = await run();
    assert.deepEqual(fixed.applied.map((r) => r.remoteName), [name]);
  });

  it('a report quarantined under a wrong pin applies once the pin is fixed and it is requeued: its .sig goes back with it', async () => {
    const batch = await seedBatch(db, [61]);
    const name = reportName('rsa');
    const data = nodeRsaEncrypt(shippedXml(batch.fileName, 61), ours.publicPem);
    bureau.put(`${name}.sig`, opensslSign(signer.keyFile, data, keys));
    bureau.put(name, data);
    const pinnedOld = config({ signingPublicKeyFile: mallory.pubFile, signingKeySha256: opensslSpkiSha256(mallory.pubFile) });
    const first = await run(pinnedOld);
    assert.match(first.quarantined[0]?.reason ?? '', /^not authenticated: signature .* does not verify/);
    assert.deepEqual(bureau.files('failed'), [name, `${name}.sig`]);
    const fixed = config();
    const row = await db('bureau_reports').where({ remote_name: name }).first();
    const requeued = await requeueQuarantined({ db, config: fixed, transport: makeSftpTransport(fixed.sftp, { log: silentLogger }), log: silentLogger }, Number(row.id));
    assert.deepEqual(requeued.map((r) => [r.remoteName, r.refused]), [[name, null]]);
    assert.deepEqual([bureau.files(), bureau.files('failed')], [[name, `${name}.sig`], []]);
    const second = await run(fixed);
    assert.deepEqual(second.applied.map((r) => r.remoteName), [name]);
    assert.deepEqual(bureau.files('processed'), [name, `${name}.sig`]);
    assert.equal((await contractOf(db, 61)).production_status, 'Shipped');
  });

  it('takes a report only once its .sig too is unchanged on the second look', async () => {
    const batch = await seedBatch(db, [71]);
    const name = reportName('rsa');
    const data = nodeRsaEncrypt(shippedXml(batch.fileName, 71), ours.publicPem);
    const sig = opensslSign(signer.keyFile, data, keys);
    bureau.put(`${name}.sig`, sig.subarray(0, 100)); // still being uploaded
    bureau.put(name, data);
    const c = config({ stableCheckSeconds: 1 });
    const job = (sleep: () => Promise<void>) => makeReceiveJob({ db, config: c, log: silentLogger, transport: makeSftpTransport(c.sftp, { log: silentLogger }), sleep }).run();
    const first = await job(async () => bureau.put(`${name}.sig`, sig));
    assert.deepEqual([first.applied.length, first.quarantined.length], [0, 0], 'left for the next run');
    const second = await job(async () => undefined);
    assert.deepEqual(second.applied.map((r) => r.remoteName), [name]);
  });

  it('the .sig of a report found again by its hash moves with it, without being needed again', async () => {
    const batch = await seedBatch(db, [51]);
    const data = nodeRsaEncrypt(shippedXml(batch.fileName, 51), ours.publicPem);
    const [a, b] = [reportName('rsa'), reportName('rsa')];
    const sig = opensslSign(signer.keyFile, data, keys);
    bureau.put(`${a}.sig`, sig);
    bureau.put(a, data);
    bureau.put(`${b}.sig`, sig);
    bureau.put(b, data);
    const result = await run();
    assert.deepEqual([result.applied.length, result.duplicates], [1, 1]);
    assert.deepEqual(bureau.files('processed'), [a, `${a}.sig`, b, `${b}.sig`].sort());
    assert.equal(readFileSync(bureau.path(`${b}.sig`, 'processed')).length, 256);
  });
});
