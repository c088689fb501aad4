import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { PgpSignatureError, decryptToFile } from '../../src/crypto/pgp.js';
import { PermanentError } from '../../src/errors.js';
import { createGpgHome, requireGpg, type GpgHome } from '../helpers/gpg.js';

/**
 * `.pgp` reports whose structure is not "signed by the bureau, then encrypted to us", made by gpg (and,
 * where gpg refuses, by openpgp.js packet by packet): each one is refused, with no clear file left.
 */
describe('crypto/pgp: .pgp reports of the wrong shape', function () {
  let gpg: GpgHome;
  let dir: string;
  let issuerPub: string;
  let issuerKey: openpgp.PublicKey;
  let decryptionKey: openpgp.PrivateKey;
  let bureauFpr: string;
  let malloryFpr: string;
  let bureauPublic: openpgp.PublicKey;
  let bureauSecret: openpgp.PrivateKey;
  let n = 0;
  const clear = Buffer.from('<BureauReport version="1"/>');

  before(async function () {
    requireGpg(this);
    gpg = createGpgHome();
    dir = mkdtempSync(join(tmpdir(), 'bx-pgp-shape-'));
    const issuerFpr = gpg.generateKey('BX Issuer <issuer@example.test>');
    issuerPub = gpg.exportPublicKey(issuerFpr);
    issuerKey = await openpgp.readKey({ armoredKey: readFileSync(issuerPub, 'utf8') });
    decryptionKey = await openpgp.readPrivateKey({ armoredKey: readFileSync(gpg.exportSecretKey(issuerFpr), 'utf8') });
    // RSA: its encryption subkey can make a signature, which must still not count
    bureauFpr = gpg.generateKey('Bureau <bureau@example.test>', { algo: 'rsa2048' });
    bureauPublic = await openpgp.readKey({ armoredKey: readFileSync(gpg.exportPublicKey(bureauFpr), 'utf8') });
    bureauSecret = await openpgp.readPrivateKey({ armoredKey: readFileSync(gpg.exportSecretKey(bureauFpr), 'utf8') });
    malloryFpr = gpg.generateKey('Mallory <mallory@example.test>');
  });
  after(() => {
    gpg?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const gpgRun = (args: string[], input: Buffer) => execFileSync('gpg', [
    '--homedir', gpg.home, '--batch', '--yes', '--no-tty', '--trust-model', 'always', '--compress-level', '0', ...args, '--output', '-',
  ], { input, stdio: ['pipe', 'pipe', 'pipe'] });

  async function refusal(message: Buffer | Uint8Array): Promise<Error> {
    const file = join(dir, `m${++n}.pgp`);
    writeFileSync(file, message);
    const destination = `${file}.xml`;
    const err = await decryptToFile(createReadStream(file), { decryptionKey, verificationKeys: [bureauPublic], destination, maxBytes: 1 << 20 })
      .then(() => null, (e: Error) => e);
    assert.ok(err instanceof PermanentError, `refused: ${err}`);
    assert.equal(existsSync(destination), false, 'no clear file left');
    return err;
  }

  /** Packets as the writer lays them out, encrypted to us (SEIPDv1, uncompressed). */
  async function encryptedPackets(packets: openpgp.AnyPacket[]): Promise<Uint8Array> {
    const list = new openpgp.PacketList<openpgp.AnyPacket>();
    list.push(...packets);
    const message = new openpgp.Message(list);
    return openpgp.encrypt({ message, encryptionKeys: issuerKey, format: 'binary', config: { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed } }) as Promise<Uint8Array>;
  }

  function literal(text: string): openpgp.LiteralDataPacket {
    const packet = new openpgp.LiteralDataPacket();
    (packet as unknown as { setBytes(b: Uint8Array, f: number): void }).setBytes(new Uint8Array(Buffer.from(text)), openpgp.enums.literal.binary);
    return packet;
  }

  async function signature(keyPacket: openpgp.SecretKeyPacket | openpgp.SecretSubkeyPacket, over: openpgp.LiteralDataPacket): Promise<openpgp.SignaturePacket> {
    const sig = new openpgp.SignaturePacket();
    Object.assign(sig, {
      signatureType: openpgp.enums.signature.binary, publicKeyAlgorithm: keyPacket.algorithm, hashAlgorithm: openpgp.enums.hash.sha256,
      issuerKeyID: keyPacket.getKeyID(), issuerFingerprint: keyPacket.getFingerprintBytes(), created: new Date(Date.now() - 60_000),
    });
    await (sig as unknown as { sign(k: unknown, d: unknown, date?: Date, detached?: boolean, config?: unknown): Promise<void> }).sign(keyPacket, over, undefined, false, openpgp.config);
    return sig;
  }

  it('the bureau-signed, then encrypted report is accepted (the shape every other case departs from)', async function () {
    const file = join(dir, 'good.pgp');
    writeFileSync(file, gpg.gpgEncrypt(clear, issuerPub, { signWith: bureauFpr }));
    const result = await decryptToFile(createReadStream(file), { decryptionKey, verificationKeys: [bureauPublic], destination: `${file}.xml`, maxBytes: 1 << 20 });
    assert.equal(result.signatureVerified, true);
    assert.ok(readFileSync(`${file}.xml`).equals(clear));
  });

  it('refuses a report signed by the bureau but not encrypted, clear-signed, or a bare detached signature', async function () {
    await refusal(gpgRun(['--local-user', bureauFpr, '--sign'], clear));
    await refusal(gpgRun(['--local-user', bureauFpr, '--clearsign'], clear));
    await refusal(gpgRun(['--local-user', bureauFpr, '--detach-sign', '--armor'], clear));
  });

  it('refuses a report encrypted, then signed (the signature outside, over the ciphertext)', async function () {
    await refusal(gpgRun(['--local-user', bureauFpr, '--sign'], gpg.gpgEncrypt(clear, issuerPub)));
  });

  it('refuses a report signed by the bureau and by another key, and one signed by another key only', async function () {
    const both = gpgRun(['--local-user', bureauFpr, '--local-user', malloryFpr, '--recipient-file', issuerPub, '--sign', '--encrypt'], clear);
    assert.ok(await refusal(both) instanceof PgpSignatureError);
    assert.ok(await refusal(gpg.gpgEncrypt(clear, issuerPub, { signWith: malloryFpr })) instanceof PgpSignatureError);
  });

  it('refuses a signature by the bureau\'s encryption subkey (no signing flag), one over other bytes, and a good one beside a bad one', async function () {
    const report = literal(clear.toString());
    const encryptionSubkey = bureauSecret.subkeys[0]!.keyPacket as openpgp.SecretSubkeyPacket;
    const primary = bureauSecret.keyPacket as openpgp.SecretKeyPacket;
    const bySubkey = await refusal(await encryptedPackets([await signature(encryptionSubkey, report), report]));
    assert.ok(bySubkey instanceof PgpSignatureError);
    assert.match(bySubkey.message, /signing key/);
    assert.ok(await refusal(await encryptedPackets([await signature(primary, literal('<other/>')), report])) instanceof PgpSignatureError);
    assert.ok(await refusal(await encryptedPackets([await signature(primary, report), await signature(primary, literal('<other/>')), report])) instanceof PgpSignatureError);
  });

  it('refuses two literal packets in one message (only the first one would be signed)', async function () {
    const report = literal(clear.toString());
    await refusal(await encryptedPackets([await signature(bureauSecret.keyPacket as openpgp.SecretKeyPacket, report), report, literal('<BureauReport/>')]));
  });
});
