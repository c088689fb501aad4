import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { appendFileSync, lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { describeEachDatabase } from '../helpers/db.js';
import { startReceiveBench, type ReceiveBench } from '../inbound/harness.js';
import { header, nodeRsaEncrypt, reportName, rsaKeyPair, shipment, xmlOf } from '../inbound/fixtures.js';
import { contractOf, seedBatch } from '../inbound/seed.js';

/** The pin of a PEM public key, computed by openssl (independently of our code). */
function opensslSpkiSha256(pubFile: string): string {
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', pubFile, '-outform', 'DER']);
  return execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der }).toString().split(' ')[0]!;
}

/** A detached RSA-PSS signature made by openssl, as the bureau's tooling would. */
function opensslSign(keyFile: string, data: Buffer, dir: string): Buffer {
  const file = join(dir, 'to-sign.bin');
  writeFileSync(file, data);
  return execFileSync('openssl', [
    'dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sigopt', 'rsa_mgf1_md:sha256', '-sign', keyFile, file,
  ]);
}

/** The receive job against a real sshd whose files change under it, as a broken or hostile bureau server's do. */
describeEachDatabase('receive from a bureau server whose files change after the listing', (ctx) => {
  let bench: ReceiveBench;
  let keys: string;
  let signer: ReturnType<typeof rsaKeyPair>;
  let workDir: string;
  let db: Db;

  before(async function () {
    bench = await startReceiveBench(this);
    keys = mkdtempSync(join(tmpdir(), 'bx-hostile-keys-'));
    signer = rsaKeyPair(keys, 'bureau-signing');
    db = ctx().db;
  });
  after(async () => {
    await bench?.stop();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });
  beforeEach(() => {
    bench.bureau.clear();
    workDir = mkdtempSync(join(tmpdir(), 'bx-hostile-work-'));
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  const signedConfig = (): Config =>
    bench.config(workDir, { signatures: 'required', signingPublicKeyFile: signer.pubFile, signingKeySha256: opensslSpkiSha256(signer.pubFile) });

  it('quarantines a report whose .sig grows past a signature\'s size after the listing, and applies the next report', async () => {
    const batch = await seedBatch(db, [41, 42]);
    const [grown, good] = [reportName('rsa'), reportName('rsa')];
    for (const [name, card] of [[grown, 41], [good, 42]] as const) {
      const data = nodeRsaEncrypt(xmlOf({ header: header(batch.fileName), shipments: [shipment(card, { shipped: '2026-11-26' })] }), bench.ours.publicPem);
      bench.bureau.put(`${name}.sig`, opensslSign(signer.keyFile, data, keys));
      bench.bureau.put(name, data);
    }
    // listed at 256 bytes; by the time it is read the server holds more than any signature is
    const afterDownload = (remoteName: string) => {
      if (remoteName === grown) appendFileSync(bench.bureau.path(`${grown}.sig`), Buffer.alloc(5000, 7));
    };

    const result = await bench.run(db, signedConfig(), { hooks: { afterDownload } });

    assert.deepEqual(result.quarantined.map((q) => q.remoteName), [grown]);
    assert.match(result.quarantined[0]!.reason, new RegExp(`^not authenticated: signature ${grown.replaceAll('.', '\\.')}\\.sig grew past 2048 bytes while read$`));
    assert.deepEqual(result.applied.map((r) => r.remoteName), [good]);
    assert.equal((await contractOf(db, 41)).production_status, 'InProduction', 'nothing of the quarantined report applied');
    assert.equal((await contractOf(db, 42)).production_status, 'Shipped');
    assert.deepEqual(bench.bureau.files('failed'), [grown, `${grown}.sig`]);
  });

  it('moves a report to processed/ despite a dangling symlink named as its .sig (it was left in outbound/ and downloaded again on every run)', async () => {
    const batch = await seedBatch(db, [43]);
    const name = reportName('rsa');
    bench.bureau.put(name, nodeRsaEncrypt(xmlOf({ header: header(batch.fileName), shipments: [shipment(43, { shipped: '2026-11-26' })] }), bench.ours.publicPem));
    symlinkSync('/nowhere', bench.bureau.path(`${name}.sig`));
    const config = bench.config(workDir);

    const first = await bench.run(db, config);
    assert.deepEqual(first.applied.map((r) => r.remoteName), [name]);
    assert.deepEqual([bench.bureau.files(), bench.bureau.files('processed')], [[], [name]]);
    assert.ok(lstatSync(bench.bureau.path(`${name}.sig`, 'processed')).isSymbolicLink(), 'the link went with its report');
    const second = await bench.run(db, config);
    assert.deepEqual([second.applied.length, second.duplicates, second.quarantined.length], [0, 0, 0], 'nothing left to download again');
  });
});
