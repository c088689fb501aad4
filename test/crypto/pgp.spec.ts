import assert from 'node:assert/strict';
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { decryptToFile, encryptStream, loadPrivateKey, loadRecipientKey } from '../../src/crypto/pgp.js';
import { PermanentError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { waitFor } from '../helpers/wait.js';

describe('crypto/pgp: encryptStream read by gpg, decryptToFile of gpg output', function () {
  let gpg: GpgHome;
  let dir: string;
  let bureauFpr: string;
  let bureauPub: string;
  let archiveFpr: string;
  let archivePub: string;
  const clear = Buffer.from(Array.from({ length: 2000 }, (_, i) => `D${String(i).padStart(7, '0')}${'X'.repeat(441)}\n`).join(''));
  const load = (file: string, fpr: string) => loadRecipientKey(file, fpr, { warnDays: 30, log: silentLogger, purpose: 'bureau' });

  before(function () {
    gpg = createGpgHome();
    dir = mkdtempSync(join(tmpdir(), 'bx-pgp-'));
    bureauFpr = gpg.generateKey('Bureau <bureau@example.test>', { algo: 'rsa2048' });
    bureauPub = gpg.exportPublicKey(bureauFpr);
    archiveFpr = gpg.generateKey('Archive <archive@example.test>');
    archivePub = gpg.exportPublicKey(archiveFpr, { binary: true });
  });
  after(function () {
    gpg?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function encryptToFile(name: string, opts: Parameters<typeof encryptStream>[1]): Promise<string> {
    const file = join(dir, name);
    await pipeline(encryptStream(Readable.from([clear.subarray(0, 1000), clear.subarray(1000)]), opts), createWriteStream(file));
    return file;
  }

  describe('encryptStream', function () {
    it('writes a binary, uncompressed SEIPDv1 message that gpg decrypts', async function () {
      const { key, info } = await load(bureauPub, bureauFpr.toLowerCase().replace(/(.{4})/g, '$1 '));
      assert.equal(info.fingerprint, bureauFpr);
      const file = await encryptToFile('plain.pgp', { recipients: [key], armor: false });
      const head = readFileSync(file).subarray(0, 1);
      assert.ok((head[0]! & 0x80) !== 0, 'binary packet header, not armor');
      const result = gpg.gpgDecryptWithStatus(file);
      assert.ok(result.ok, result.stderr);
      assert.ok(result.clear.equals(clear));
      assert.match(result.status, /DECRYPTION_OKAY/);
      assert.doesNotMatch(result.stderr, /compress/i);
      assert.ok(statSync(file).size > clear.length, 'not compressed: the ciphertext is at least as large as the clear text');
    });

    it('writes an armored message that gpg decrypts', async function () {
      const { key } = await load(bureauPub, bureauFpr);
      const file = await encryptToFile('armored.asc', { recipients: [key], armor: true });
      assert.match(readFileSync(file, 'utf8'), /^-----BEGIN PGP MESSAGE-----/);
      assert.ok(gpg.gpgDecrypt(file).equals(clear));
    });

    it('encrypts to two recipients (bureau and archive), each can decrypt alone', async function () {
      const bureau = await load(bureauPub, bureauFpr);
      const archive = await loadRecipientKey(archivePub, archiveFpr, { warnDays: 30, log: silentLogger, purpose: 'archive' });
      const file = await encryptToFile('two.pgp', { recipients: [bureau.key, archive.key], armor: false });
      const status = gpg.gpgDecryptWithStatus(file).status;
      const recipientIds = [...status.matchAll(/ENC_TO ([0-9A-F]{16})/g)].map((m) => m[1]);
      assert.equal(recipientIds.length, 2);
      // the archive key alone (bureau's secret key removed) still decrypts
      const archiveOnly = createGpgHome();
      try {
        archiveOnly.importKey(gpg.exportSecretKey(archiveFpr));
        assert.ok(archiveOnly.gpgDecrypt(file).equals(clear));
      } finally {
        archiveOnly.cleanup();
      }
    });

    it('signs so that gpg reports a good signature by our key', async function () {
      const { privateKey, publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'Issuer', email: 'sign@issuer.test' }], type: 'ecc', format: 'armored', passphrase: 'sign-passphrase-1' });
      const secretFile = join(dir, 'issuer.sec.asc');
      writeFileSync(secretFile, privateKey, { mode: 0o600 });
      writeFileSync(join(dir, 'issuer.pub.asc'), publicKey);
      gpg.importKey(join(dir, 'issuer.pub.asc'));
      const signingKey = await loadPrivateKey(secretFile, 'sign-passphrase-1');
      const { key } = await load(bureauPub, bureauFpr);
      const file = await encryptToFile('signed.pgp', { recipients: [key], signingKey, armor: false });
      const result = gpg.gpgDecryptWithStatus(file);
      assert.ok(result.ok, result.stderr);
      assert.ok(result.clear.equals(clear));
      assert.match(result.status, new RegExp(`VALIDSIG ${signingKey.getFingerprint().toUpperCase()}`));
      assert.match(result.status, /GOODSIG/);
    });

    it('passes the error of a failing clear stream through, unchanged', async function () {
      const { key } = await load(bureauPub, bureauFpr);
      const source = new Readable({ read() {} });
      source.push(clear);
      setTimeout(() => source.destroy(new Error('database connection lost')), 20);
      await assert.rejects(pipeline(encryptStream(source, { recipients: [key], armor: false }), createWriteStream(join(dir, 'failed.pgp'))), /database connection lost/);
    });
  });

  it('reads ahead of a stalled consumer only a bounded amount, and stops the source when the consumer gives up', async function () {
    const { key } = await load(bureauPub, bureauFpr);
    let produced = 0;
    const block = Buffer.alloc(64 * 1024, 'D');
    const endless = new Readable({ read() { produced += block.length; this.push(block); } });
    const encrypted = encryptStream(endless, { recipients: [key], armor: false });
    encrypted.pause();
    encrypted.once('readable', () => undefined);
    // wait until the read-ahead has come to rest (unchanged over several polls), or ran past the bound
    const bound = 32 * 1024 * 1024;
    let last = -1;
    let still = 0;
    await waitFor('the read-ahead to stop', () => {
      still = produced === last ? still + 1 : 0;
      last = produced;
      return produced >= bound || (produced > 0 && still >= 10);
    }, 60_000, 50);
    assert.ok(produced > 0 && produced < bound, `read ahead ${produced} bytes`);
    encrypted.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(endless.destroyed, 'the source is destroyed with the output');
  });

  it('refuses a passphrase-protected private key without or with a wrong passphrase', async function () {
    const { privateKey } = await openpgp.generateKey({ userIDs: [{ name: 'X' }], type: 'ecc', format: 'armored', passphrase: 'right-passphrase' });
    const file = join(dir, 'locked.sec.asc');
    writeFileSync(file, privateKey, { mode: 0o600 });
    await assert.rejects(loadPrivateKey(file, undefined), /passphrase-protected, but no passphrase/);
    await assert.rejects(loadPrivateKey(file, 'wrong-passphrase'), /cannot unlock .*locked\.sec\.asc/);
  });

  it('refuses a private key file readable by group/other unless allowed', async function () {
    const { privateKey } = await openpgp.generateKey({ userIDs: [{ name: 'X' }], type: 'ecc', format: 'armored' });
    const file = join(dir, 'open.sec.asc');
    writeFileSync(file, privateKey, { mode: 0o644 });
    chmodSync(file, 0o644);
    await assert.rejects(loadPrivateKey(file, undefined), /open\.sec\.asc is readable by group\/other \(mode 644\): chmod 600 it/);
    assert.ok((await loadPrivateKey(file, undefined, { allowInsecure: true })).isDecrypted());
  });

  describe('decryptToFile', function () {
    let ourSecret: openpgp.PrivateKey;
    let ourPubFile: string;
    let bureauSecret: openpgp.PrivateKey;
    let reportFpr: string;

    before(async function () {
      reportFpr = gpg.generateKey('Issuer reports <reports@issuer.test>');
      ourSecret = await loadPrivateKey(gpg.exportSecretKey(reportFpr), undefined);
      ourPubFile = gpg.exportPublicKey(reportFpr);
      bureauSecret = await loadPrivateKey(gpg.exportSecretKey(bureauFpr), undefined);
    });

    function writeEncrypted(name: string, data: Buffer): string {
      const file = join(dir, name);
      writeFileSync(file, data);
      return file;
    }

    it('decrypts a gpg-made binary message, verifying the bureau signature', async function () {
      const file = writeEncrypted('report.pgp', gpg.gpgEncrypt(clear, ourPubFile, { signWith: bureauFpr }));
      const destination = join(dir, 'report.xml');
      const bureauPublic = (await load(bureauPub, bureauFpr)).key;
      const result = await decryptToFile(createReadStream(file), { decryptionKey: ourSecret, verificationKeys: [bureauPublic], destination, maxBytes: 10_000_000 });
      assert.deepEqual(result, { bytes: clear.length, signatureVerified: true });
      assert.ok(readFileSync(destination).equals(clear));
      assert.equal(statSync(destination).mode & 0o777, 0o600);
    });

    it('decrypts an armored gpg message without signature check', async function () {
      const file = writeEncrypted('report.asc', gpg.gpgEncrypt(clear, ourPubFile, { armor: true }));
      const destination = join(dir, 'report-armored.xml');
      const result = await decryptToFile(createReadStream(file), { decryptionKey: ourSecret, destination, maxBytes: 10_000_000 });
      assert.deepEqual(result, { bytes: clear.length, signatureVerified: false });
      assert.ok(readFileSync(destination).equals(clear));
    });

    async function assertRefused(encrypted: Buffer, expected: RegExp, extra: { verificationKeys?: openpgp.PublicKey[]; maxBytes?: number } = {}) {
      const destination = join(dir, `refused-${Math.random().toString(36).slice(2)}.xml`);
      await assert.rejects(
        decryptToFile(Readable.from([encrypted]), { decryptionKey: ourSecret, destination, maxBytes: 10_000_000, ...extra }),
        (err: Error) => err instanceof PermanentError && expected.test(err.message),
      );
      assert.equal(existsSync(destination), false, 'nothing left at the destination');
    }

    it('refuses a tampered message and leaves no file', async function () {
      const encrypted = gpg.gpgEncrypt(clear, ourPubFile);
      encrypted[encrypted.length - 600] ^= 0x01;
      await assertRefused(encrypted, /decryption failed|modification|integrity/i);
    });

    it('refuses a message signed by another key when a signature is required', async function () {
      const otherFpr = gpg.generateKey('Mallory <m@example.test>');
      const encrypted = gpg.gpgEncrypt(clear, ourPubFile, { signWith: otherFpr });
      await assertRefused(encrypted, /signing key|signature/i, { verificationKeys: [(await load(bureauPub, bureauFpr)).key] });
    });

    it('refuses an unsigned message when a signature is required', async function () {
      await assertRefused(gpg.gpgEncrypt(clear, ourPubFile), /sign/i, { verificationKeys: [(await load(bureauPub, bureauFpr)).key] });
    });

    it('refuses clear text over maxBytes', async function () {
      await assertRefused(gpg.gpgEncrypt(clear, ourPubFile), /exceeds the limit of 1000 bytes/, { maxBytes: 1000 });
    });

    it('refuses a compressed message that inflates past maxBytes (zip bomb) without writing it out', async function () {
      const bomb = gpg.gpgEncrypt(Buffer.alloc(64 * 1024 * 1024), ourPubFile, { compress: true });
      assert.ok(bomb.length < 1024 * 1024, `compressed to ${bomb.length} bytes`);
      await assertRefused(bomb, /exceed|too large|limit/i, { maxBytes: 1024 * 1024 });
    });

    it('refuses a message for another key', async function () {
      const forBureau = gpg.gpgEncrypt(clear, bureauPub);
      await assertRefused(forBureau, /decryption failed/i);
      assert.ok(bureauSecret.isDecrypted());
    });

    it('round-trips our own encryption', async function () {
      const ourPublic = (await loadRecipientKey(ourPubFile, reportFpr, { warnDays: 0, log: silentLogger, purpose: 'archive' })).key;
      const destination = join(dir, 'roundtrip.dat');
      const result = await decryptToFile(encryptStream(Readable.from([clear]), { recipients: [ourPublic], armor: false }), { decryptionKey: ourSecret, destination, maxBytes: clear.length });
      assert.equal(result.bytes, clear.length);
      assert.ok(readFileSync(destination).equals(clear));
    });
  });
});
