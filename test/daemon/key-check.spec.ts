import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { configSchema } from '../../src/config/schema.js';
import { everyBureauKeyExpiries, pgpKeyExpiries } from '../../src/daemon/key-check.js';
import { testConfig } from '../helpers/config.js';

describe('OpenPGP key expiry check', () => {
  let file: string;
  let fingerprint: string;
  let second: { file: string; fingerprint: string };
  const now = new Date();
  // made a second before now (key times are whole seconds): 12 days of validity leave 11 whole days
  const created = new Date(Math.floor(now.getTime() / 1000) * 1000 - 1000);

  /** a bureau key valid `days` days from `created`, written to a file */
  async function bureauKey(name: string, days: number): Promise<{ file: string; fingerprint: string }> {
    const { publicKey } = await openpgp.generateKey({
      type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ name, email: 'bureau@example.test' }],
      keyExpirationTime: days * 86_400, date: created, format: 'armored',
    } as any);
    const out = join(mkdtempSync(join(tmpdir(), 'bx-key-')), 'bureau.pub.asc');
    writeFileSync(out, publicKey as unknown as string);
    return { file: out, fingerprint: (await openpgp.readKey({ armoredKey: publicKey as unknown as string })).getFingerprint().toUpperCase() };
  }

  before(async () => {
    ({ file, fingerprint } = await bureauKey('Bureau', 12));
    second = await bureauKey('Emb', 40);
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

  it("checks every bureau's key, each with its bureau (a key two bureaus pin, once); a bad key names its bureau", async () => {
    const config = (b2: { file: string; fingerprint: string }) => configSchema.parse({
      issuer: { code: 'BX' }, routing: { default: 'B1' },
      bureaus: [
        { code: 'B1', pgp: { bureauPublicKeyFile: file, bureauFingerprint: fingerprint } },
        { code: 'B2', pgp: { bureauPublicKeyFile: b2.file, bureauFingerprint: b2.fingerprint } },
        { code: 'B3', pgp: { bureauPublicKeyFile: file, bureauFingerprint: fingerprint } },
      ],
    });
    const keys = await everyBureauKeyExpiries(config(second), now);
    assert.deepEqual(keys.map((k) => [k.bureau, k.purpose, k.fingerprint, k.daysToExpiry]), [['B1', 'bureau', fingerprint, 11], ['B2', 'bureau', second.fingerprint, 39]]);
    await assert.rejects(everyBureauKeyExpiries(config({ file: second.file, fingerprint: 'AB'.repeat(20) }), now), /^Error: bureau B2: .*does not match the pinned/);
  });

  it("gives each bureau's key its bureau's warning days; a key two bureaus pin, the earlier warning", async () => {
    const config = configSchema.parse({
      issuer: { code: 'BX' }, routing: { default: 'B1' },
      bureaus: [
        { code: 'B1', pgp: { bureauPublicKeyFile: file, bureauFingerprint: fingerprint, expiryWarningDays: 5 } },
        { code: 'B2', pgp: { bureauPublicKeyFile: second.file, bureauFingerprint: second.fingerprint, expiryWarningDays: 45 } },
        { code: 'B3', pgp: { bureauPublicKeyFile: file, bureauFingerprint: fingerprint, expiryWarningDays: 20 } },
      ],
    });
    const keys = await everyBureauKeyExpiries(config, now);
    assert.deepEqual(keys.map((k) => [k.bureau, k.fingerprint, k.warningDays]), [['B1', fingerprint, 20], ['B2', second.fingerprint, 45]]);
  });

  it('has nothing to check without key files', async () => {
    assert.deepEqual(await pgpKeyExpiries(testConfig().pgp, now), []);
  });
});
