import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ConfigError } from '../../src/errors.js';
import { ReportSignatureError, loadReportSigningKey, signReport, spkiSha256, verifyReportFile } from '../../src/crypto/report-signature.js';
import { rsaKeyPair } from '../inbound/fixtures.js';

/** Seeded and bounded: the seed is printed by fast-check on failure, and can be replayed with BX_FC_SEED. */
const SEED = Number(process.env.BX_FC_SEED ?? Date.now() % 2 ** 31);

describe('crypto/report-signature (RSA-PSS detached signatures of .rsa reports)', function () {
  let dir: string;
  let bureau: ReturnType<typeof rsaKeyPair>;
  let other: ReturnType<typeof rsaKeyPair>;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'bx-report-sig-'));
    bureau = rsaKeyPair(dir, 'bureau');
    other = rsaKeyPair(dir, 'other');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const opensslPin = (pubFile: string) =>
    execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: execFileSync('openssl', ['pkey', '-pubin', '-in', pubFile, '-outform', 'DER']), encoding: 'utf8' }).split(' ')[0]!;
  const opensslVerifies = (file: string, sigFile: string, pubFile: string) => spawnSync('openssl', [
    'dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sigopt', 'rsa_mgf1_md:sha256',
    '-verify', pubFile, '-signature', sigFile, file,
  ]).status === 0;

  it('loads the pinned key (pin as openssl prints it, any case, with colons) and refuses a wrong pin, a short or non-RSA key', function () {
    const pin = opensslPin(bureau.pubFile);
    const key = loadReportSigningKey(bureau.pubFile, pin.toUpperCase().match(/../g)!.join(':'));
    assert.equal(spkiSha256(key), pin);
    assert.throws(() => loadReportSigningKey(bureau.pubFile, opensslPin(other.pubFile)),
      (err: Error) => err instanceof ConfigError && err.message.includes(`has SPKI SHA-256 ${pin}, which does not match the pinned reports.signingKeySha256`));
    assert.throws(() => loadReportSigningKey(bureau.pubFile, undefined), /no pinned SHA-256 is configured/);
    const ed = generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    writeFileSync(join(dir, 'ed.pub.pem'), ed.publicKey);
    assert.throws(() => loadReportSigningKey(join(dir, 'ed.pub.pem'), 'ab'.repeat(32)), /holds a ed25519 key, not RSA/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    writeFileSync(join(dir, 'small.pub.pem'), small.publicKey);
    assert.throws(() => loadReportSigningKey(join(dir, 'small.pub.pem'), 'ab'.repeat(32)), /is a 1024-bit RSA key: at least 2048 bits are required/);
    writeFileSync(join(dir, 'junk.pem'), 'not a key');
    assert.throws(() => loadReportSigningKey(join(dir, 'junk.pem'), pin), /is not a PEM public key/);
  });

  it('what we sign openssl verifies, and what openssl signs we verify, for any report bytes', async function () {
    const key = loadReportSigningKey(bureau.pubFile, opensslPin(bureau.pubFile));
    const privateKey = createPrivateKey(readFileSync(bureau.keyFile));
    const file = join(dir, 'report.bin');
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 3000 }), async (bytes) => {
      writeFileSync(file, bytes);
      writeFileSync(`${file}.sig`, await signReport(Buffer.from(bytes), privateKey));
      assert.ok(opensslVerifies(file, `${file}.sig`, bureau.pubFile), 'openssl accepts our signature');
      const theirs = execFileSync('openssl', [
        'dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sigopt', 'rsa_mgf1_md:sha256', '-sign', bureau.keyFile, file,
      ]);
      await verifyReportFile(file, theirs, key, 'report.bin.sig');
    }), { seed: SEED, numRuns: 12 });
  });

  it('refuses any one-bit change of the report or of its signature, and a signature by another key', async function () {
    const key = loadReportSigningKey(bureau.pubFile, opensslPin(bureau.pubFile));
    const privateKey = createPrivateKey(readFileSync(bureau.keyFile));
    const file = join(dir, 'flip.bin');
    const bitFlip = fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean());
    await fc.assert(fc.asyncProperty(bitFlip, async ([bytes, at, bit, inSignature]) => {
      const report = Buffer.from(bytes);
      const signature = await signReport(report, privateKey);
      const target = inSignature ? signature : report;
      target[at % target.length]! ^= 1 << bit;
      writeFileSync(file, report);
      await assert.rejects(verifyReportFile(file, signature, key, 'flip.bin.sig'),
        (err: Error) => err instanceof ReportSignatureError && /does not verify with the pinned bureau report-signing key/.test(err.message));
    }), { seed: SEED, numRuns: 60 });
    writeFileSync(file, 'a report');
    const foreign = await signReport(Buffer.from('a report'), createPrivateKey(readFileSync(other.keyFile)));
    await assert.rejects(verifyReportFile(file, foreign, key, 'x.sig'), /does not verify/);
    await assert.rejects(verifyReportFile(file, null, key, 'x.sig'), /signature missing: no x\.sig beside the report/);
    await assert.rejects(verifyReportFile(file, Buffer.alloc(0), key, 'x.sig'), /is 0 bytes, a signature of the 2048-bit bureau report-signing key is 256/);
  });
});
