import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ReportSignatureError, signReport, verifyReportFile } from '../../src/crypto/report-signature.js';
import { decryptRsaFile, encryptRsaReport, loadRsaPrivateKey } from '../../src/crypto/rsa.js';
import { InputError } from '../../src/errors.js';
import { rsaKeyPair } from '../inbound/fixtures.js';

const SEED = Number(process.env.BX_FC_SEED ?? Date.now() % 2 ** 31);
const K = 256; // 2048-bit keys: every block is 256 bytes

/**
 * RSA-OAEP blocks are each authenticated by OAEP alone: blocks of one report reordered, dropped or
 * spliced with blocks of another report to the same key all decrypt. What holds a `.rsa` report
 * together is the bureau's signature over the whole file (bureau-interface §2), checked before any
 * block is decrypted.
 */
describe('crypto: the framing of .rsa reports (blocks) under the whole-file signature', function () {
  let dir: string;
  let ours: ReturnType<typeof rsaKeyPair>;
  let signer: ReturnType<typeof rsaKeyPair>;
  let n = 0;
  const file = (data: Buffer) => {
    const path = join(dir, `r${++n}.xml.rsa`);
    writeFileSync(path, data);
    return path;
  };
  const xml = (id: string) => Buffer.from(`<BureauReport version="1"><Header><SourceFile>${id}</SourceFile></Header>${'<Shipment/>'.repeat(60)}</BureauReport>`);

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'bx-rsa-framing-'));
    ours = rsaKeyPair(dir, 'ours');
    signer = rsaKeyPair(dir, 'bureau-signing');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const blocksOf = (data: Buffer) => Array.from({ length: data.length / K }, (_, i) => data.subarray(i * K, (i + 1) * K));

  it('blocks reordered, dropped, repeated or spliced from another signed report decrypt, and are refused by the signature', async function () {
    const pub = readFileSync(ours.pubFile, 'utf8');
    const a = encryptRsaReport(xml('A'), pub);
    const b = encryptRsaReport(xml('B'), pub);
    const signatureOfA = await signReport(a, readFileSync(signer.keyFile, 'utf8'));
    const signingKey = (await import('node:crypto')).createPublicKey(readFileSync(signer.pubFile));
    const key = loadRsaPrivateKey(ours.keyFile);
    const blocksA = blocksOf(a);
    const blocksB = blocksOf(b);
    assert.ok(blocksA.length >= 3);
    await verifyReportFile(file(a), signatureOfA, signingKey, 'A.sig');

    // any sequence of whole blocks of A and B other than A itself
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ from: fc.constantFrom('A', 'B'), index: fc.nat(blocksA.length - 1) }), { minLength: 1, maxLength: blocksA.length + 1 }),
      async (picks) => {
        const forged = Buffer.concat(picks.map(({ from, index }) => (from === 'A' ? blocksA : blocksB)[index]!));
        fc.pre(!forged.equals(a));
        const path = file(forged);
        // OAEP has no say in it: every block of the forgery decrypts
        const clear = `${path}.xml`;
        await decryptRsaFile(path, { key, destination: clear, maxBytes: 1 << 20, workers: 1 });
        assert.ok(existsSync(clear));
        await assert.rejects(verifyReportFile(path, signatureOfA, signingKey, 'A.sig'), ReportSignatureError);
      },
    ), { seed: SEED, numRuns: 12 });
  });

  it('a signature over the clear XML (not over the .rsa file, as documented) is refused', async function () {
    const clear = xml('C');
    const encrypted = encryptRsaReport(clear, readFileSync(ours.pubFile, 'utf8'));
    const signingKey = (await import('node:crypto')).createPublicKey(readFileSync(signer.pubFile));
    const overClear = await signReport(clear, readFileSync(signer.keyFile, 'utf8'));
    await assert.rejects(verifyReportFile(file(encrypted), overClear, signingKey, 'C.sig'), /does not verify/);
  });

  it('a .sig holding two signatures, or an OpenPGP detached signature, is refused by its size before any check', async function () {
    const encrypted = encryptRsaReport(xml('D'), readFileSync(ours.pubFile, 'utf8'));
    const signingKey = (await import('node:crypto')).createPublicKey(readFileSync(signer.pubFile));
    const good = await signReport(encrypted, readFileSync(signer.keyFile, 'utf8'));
    const path = file(encrypted);
    await assert.rejects(verifyReportFile(path, Buffer.concat([good, good]), signingKey, 'D.sig'), /512 bytes, a signature of the 2048-bit .* is 256/);
    await assert.rejects(verifyReportFile(path, Buffer.concat([Buffer.from([0x89, 0x01, 0x33]), good.subarray(0, 200)]), signingKey, 'D.sig'), ReportSignatureError);
  });

  it('blocks OAEP-encrypted with SHA-256 (not SHA-1 as documented), or to a 4096-bit key, do not decrypt: block 1 is named', async function () {
    const part = join(dir, 'part.bin');
    writeFileSync(part, Buffer.from('<BureauReport version="1"/>'));
    const sha256 = execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', ours.pubFile, '-pkeyopt', 'rsa_padding_mode:oaep',
      '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256', '-in', part]);
    const key = loadRsaPrivateKey(ours.keyFile);
    await assert.rejects(decryptRsaFile(file(sha256), { key, destination: join(dir, 'sha256.xml'), maxBytes: 1 << 20, workers: 1 }),
      (err: Error) => err instanceof InputError && /RSA block 1 \(offset 0\) does not decrypt/.test(err.message));
    const big = join(dir, 'big.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096', '-out', big], { stdio: 'ignore' });
    const bigPub = execFileSync('openssl', ['pkey', '-in', big, '-pubout'], { encoding: 'utf8' });
    await assert.rejects(decryptRsaFile(file(encryptRsaReport(xml('E'), bigPub)), { key, destination: join(dir, 'big.xml'), maxBytes: 1 << 20, workers: 1 }),
      (err: Error) => err instanceof InputError && /RSA block 1 \(offset 0\) does not decrypt/.test(err.message));
  });
});
