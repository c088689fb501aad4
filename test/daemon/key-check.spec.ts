import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { pgpKeyExpiries } from '../../src/daemon/key-check.js';
import { testConfig } from '../helpers/config.js';

describe('OpenPGP key expiry check', () => {
  let file: string;
  let fingerprint: string;
  const now = new Date();
  // made a second before now (key times are whole seconds): 12 days of validity leave 11 whole days
  const created = new Date(Math.floor(now.getTime() / 1000) * 1000 - 1000);

  before(async () => {
    const { publicKey } = await openpgp.generateKey({
      type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name: 'Bureau', email: 'bureau@example.test' }],
      keyExpirationTime: 12 * 86_400, date: created, format: 'armored',
    } as any);
    file = join(mkdtempSync(join(tmpdir(), 'bx-key-')), 'bureau.pub.asc');
    writeFileSync(file, publicKey as unknown as string);
    fingerprint = (await openpgp.readKey({ armoredKey: publicKey as unknown as string })).getFingerprint().toUpperCase();
  });

  it('gives the days left of the pinned bureau key', async () => {
    const pgp = testConfig({ pgp: { bureauPublicKeyFile: file, bureauFingerprint: fingerprint } }).pgp;
    const keys = await pgpKeyExpiries(pgp, now);
    assert.deepEqual(keys.map((k) => [k.purpose, k.fingerprint, k.daysToExpiry]), [['bureau', fingerprint, 11]]);
  });

  it('throws when the key no longer matches its pin or has expired', async () => {
    const pgp = testConfig({ pgp: { bureauPublicKeyFile: file, bureauFingerprint: 'AB'.repeat(20) } }).pgp;
    await assert.rejects(pgpKeyExpiries(pgp, now), /does not match the pinned/);
    const ok = testConfig({ pgp: { bureauPublicKeyFile: file, bureauFingerprint: fingerprint } }).pgp;
    await assert.rejects(pgpKeyExpiries(ok, new Date(now.getTime() + 13 * 86_400_000)), /expired/);
  });

  it('has nothing to check without key files', async () => {
    assert.deepEqual(await pgpKeyExpiries(testConfig().pgp, now), []);
  });
});
