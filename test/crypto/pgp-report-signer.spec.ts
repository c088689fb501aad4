import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { PgpSignatureError, decryptToFile } from '../../src/crypto/pgp.js';

const DAY = 86_400_000;

/**
 * Who may sign a `.pgp` report: the bureau's key as it stands today. openpgp checks a signing subkey
 * at the signature's own creation time, which the signer writes: a subkey that expired, or that the
 * bureau retired (revoked as superseded), signs "in the past" and passes. An old subkey is exactly
 * the key material that leaks, so each signing key must also be valid now.
 */
describe('crypto/pgp: the signer of a .pgp report must be valid today', function () {
  let dir: string;
  let issuerPub: openpgp.PublicKey;
  let decryptionKey: openpgp.PrivateKey;
  let bureau: openpgp.PrivateKey;
  let n = 0;
  const created = new Date(Date.now() - 30 * DAY);
  const clear = new Uint8Array(Buffer.from('<BureauReport version="1"/>'));

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'bx-pgp-signer-'));
    // both keys made a month ago, so that a message can be signed (and encrypted) at an earlier date
    const issuer = await openpgp.generateKey({ userIDs: [{ name: 'BX Issuer', email: 'issuer@example.test' }], type: 'ecc', date: created, format: 'object' });
    issuerPub = issuer.publicKey;
    decryptionKey = issuer.privateKey;
    ({ privateKey: bureau } = await openpgp.generateKey({
      userIDs: [{ name: 'Bureau', email: 'bureau@example.test' }], type: 'ecc', date: created, format: 'object',
      subkeys: [
        {}, // encryption
        { sign: true, keyExpirationTime: 5 * 86_400 }, // 1: a signing subkey that expired 25 days ago
        { sign: true }, // 2: a signing subkey the bureau retires below
        { sign: true }, // 3: the current signing subkey
      ],
    }));
    const retired = await bureau.subkeys[2]!.revoke(bureau.keyPacket as openpgp.SecretKeyPacket, { flag: openpgp.enums.reasonForRevocation.keySuperseded }, new Date(Date.now() - 10 * DAY));
    bureau.subkeys[2] = retired;
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function reportSignedBy(subkey: number, date: Date): Promise<Buffer> {
    const signingKeyIDs = [bureau.subkeys[subkey]!.getKeyID()];
    const message = await openpgp.createMessage({ binary: clear });
    return Buffer.from(await openpgp.encrypt({ message, encryptionKeys: issuerPub, signingKeys: bureau, signingKeyIDs, date, format: 'binary' }) as Uint8Array);
  }

  async function decrypt(report: Buffer) {
    const file = join(dir, `r${++n}.pgp`);
    writeFileSync(file, report);
    const destination = `${file}.xml`;
    const verificationKeys = [await openpgp.readKey({ armoredKey: bureau.toPublic().armor() })];
    const outcome = await decryptToFile(createReadStream(file), { decryptionKey, verificationKeys, destination, maxBytes: 1 << 20 })
      .then(() => null, (err: Error) => err);
    return { err: outcome, left: existsSync(destination) };
  }

  it('accepts a report signed today by the current signing subkey', async function () {
    const { err, left } = await decrypt(await reportSignedBy(3, new Date()));
    assert.equal(err, null);
    assert.equal(left, true);
  });

  it('refuses a report signed by a subkey that has expired, dated back to when it was valid', async function () {
    const { err, left } = await decrypt(await reportSignedBy(1, new Date(created.getTime() + DAY)));
    assert.ok(err instanceof PgpSignatureError, `refused as unauthenticated: ${err}`);
    assert.match(err.message, /expired|no longer/i);
    assert.equal(left, false);
  });

  it('refuses a report signed by a subkey the bureau retired (revoked as superseded), dated back to before its retirement', async function () {
    const { err, left } = await decrypt(await reportSignedBy(2, new Date(Date.now() - 20 * DAY)));
    assert.ok(err instanceof PgpSignatureError, `refused as unauthenticated: ${err}`);
    assert.equal(left, false);
  });
});
