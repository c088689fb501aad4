import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as openpgp from 'openpgp';
import { loadRecipientKey, pgpConfigFromConfig } from '../../src/crypto/pgp.js';
import { ConfigError, PermanentError } from '../../src/errors.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';

const DAY = 86_400_000;

describe('crypto/pgp key checks', function () {
  let dir: string;
  let gpg: GpgHome;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'bx-pgpkeys-'));
    gpg = createGpgHome();
  });
  after(function () {
    gpg?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  function writeKey(name: string, armored: string): string {
    const file = join(dir, name);
    writeFileSync(file, armored, { mode: 0o600 });
    return file;
  }

  async function makeKey(options: { date?: Date; keyExpirationTime?: number; subkeys?: openpgp.SubkeyOptions[] } = {}) {
    const pair = await openpgp.generateKey({ userIDs: [{ name: 'Bureau', email: 'bureau@example.test' }], type: 'ecc', ...options, format: 'object' });
    return { ...pair, fingerprint: pair.publicKey.getFingerprint().toUpperCase() };
  }

  function capturingLogger(): { log: Logger; lines: () => any[] } {
    const lines: string[] = [];
    const log = createLogger({ destination: new Writable({ write: (c, _e, done) => { lines.push(c.toString()); done(); } }) });
    return { log, lines: () => lines.map((l) => JSON.parse(l)) };
  }

  const check = (file: string, pin: string | undefined, extra: { now?: Date; warnDays?: number; log?: Logger } = {}) =>
    loadRecipientKey(file, pin, { warnDays: extra.warnDays ?? 30, log: extra.log ?? silentLogger, purpose: 'bureau', now: extra.now });

  const refused = (pattern: RegExp, type: Function = PermanentError) => (err: Error) => {
    assert.ok(err instanceof type, `${err.name}: ${err.message}`);
    assert.match(err.message, pattern);
    return true;
  };

  it('accepts the pinned key whatever the spacing and case of the pin, and reports its expiry', async function () {
    const now = new Date();
    const { publicKey, fingerprint } = await makeKey({ keyExpirationTime: 400 * 86400 });
    const file = writeKey('ok.asc', publicKey.armor());
    const spaced = fingerprint.toLowerCase().replace(/(.{4})/g, '$1 ').trim();
    const { key, info } = await check(file, spaced, { now });
    assert.equal(key.getFingerprint().toUpperCase(), fingerprint);
    assert.equal(info.fingerprint, fingerprint);
    assert.deepEqual(info.userIds, ['Bureau <bureau@example.test>']);
    assert.ok(info.daysToExpiry === 399 || info.daysToExpiry === 400, `daysToExpiry ${info.daysToExpiry}`);
  });

  it('reads a binary key file and a key that never expires', async function () {
    const { publicKey, fingerprint } = await makeKey();
    const file = join(dir, 'binary.gpg');
    writeFileSync(file, publicKey.write());
    const { info } = await check(file, fingerprint);
    assert.equal(info.expiresAt, null);
    assert.equal(info.daysToExpiry, null);
  });

  it('reports the earlier expiry of the encryption subkey when the primary key never expires', async function () {
    const { publicKey, fingerprint } = await makeKey({ subkeys: [{ keyExpirationTime: 5 * 86400 }] });
    const { info } = await check(writeKey('subkey-expiry.asc', publicKey.armor()), fingerprint);
    assert.ok(info.daysToExpiry === 4 || info.daysToExpiry === 5, `daysToExpiry ${info.daysToExpiry}`);
    await assert.rejects(check(writeKey('subkey-expired.asc', publicKey.armor()), fingerprint, { now: new Date(Date.now() + 6 * DAY) }), refused(/no valid encryption subkey/));
  });

  it('refuses a key whose fingerprint does not match the pin, naming the file and both fingerprints', async function () {
    const { publicKey, fingerprint } = await makeKey();
    const file = writeKey('other.asc', publicKey.armor());
    const pin = 'AAAA'.repeat(10);
    await assert.rejects(check(file, pin), refused(new RegExp(`other\\.asc has fingerprint ${fingerprint}, which does not match the pinned ${pin}`)));
  });

  it('refuses without a pin at all', async function () {
    const { publicKey } = await makeKey();
    await assert.rejects(check(writeKey('nopin.asc', publicKey.armor()), undefined), refused(/no pinned fingerprint .*nopin\.asc/, ConfigError));
  });

  it('refuses an expired key', async function () {
    const created = new Date(Date.now() - 400 * DAY);
    const { publicKey, fingerprint } = await makeKey({ date: created, keyExpirationTime: 365 * 86400 });
    const file = writeKey('expired.asc', publicKey.armor());
    await assert.rejects(check(file, fingerprint), refused(/expired\.asc .* expired on \d{4}-\d{2}-\d{2}/));
  });

  it('refuses a revoked key', async function () {
    const { privateKey, fingerprint } = await makeKey();
    const { publicKey: revoked } = await openpgp.revokeKey({ key: privateKey, format: 'armored' });
    await assert.rejects(check(writeKey('revoked.asc', revoked), fingerprint), refused(/revoked\.asc .* is revoked/));
  });

  it('refuses a key without an encryption subkey', async function () {
    const { publicKey, fingerprint } = await makeKey({ subkeys: [{ sign: true } as openpgp.SubkeyOptions] });
    await assert.rejects(check(writeKey('signonly.asc', publicKey.armor()), fingerprint), refused(/signonly\.asc .* has no valid encryption subkey/));
  });

  it('refuses a file that is not a key, and a missing file', async function () {
    await assert.rejects(check(writeKey('garbage.asc', 'hello'), 'AB'), refused(/garbage\.asc is not an OpenPGP key/));
    await assert.rejects(check(join(dir, 'missing.asc'), 'AB'), refused(/cannot read the OpenPGP key file .*missing\.asc: ENOENT/, ConfigError));
  });

  it('warns within warnDays of expiry, taking the encryption subkey expiry into account (gpg-made key)', async function () {
    const fpr = gpg.generateKey('Soon <soon@example.test>', { algo: 'ed25519', expire: '10d' });
    const file = gpg.exportPublicKey(fpr);
    const quiet = capturingLogger();
    await check(file, fpr, { warnDays: 5, log: quiet.log });
    assert.equal(quiet.lines().length, 0);
    const warned = capturingLogger();
    const { info } = await check(file, fpr, { warnDays: 30, log: warned.log });
    assert.ok(info.daysToExpiry === 9 || info.daysToExpiry === 10, `daysToExpiry ${info.daysToExpiry}`);
    const [line] = warned.lines();
    assert.equal(line.level, 'warn');
    assert.equal(line.fingerprint, fpr);
    assert.match(line.msg, /expires in (9|10) days/);
  });

  describe('pgpConfigFromConfig', function () {
    it('loads bureau + archive recipients and the signing key (passphrase from the environment)', async function () {
      const bureau = await makeKey();
      const archive = await makeKey();
      const signer = await openpgp.generateKey({ userIDs: [{ name: 'Issuer' }], type: 'ecc', format: 'armored', passphrase: 'sign-secret-42' });
      const pgp = testConfig({
        pgp: {
          bureauPublicKeyFile: writeKey('cfg-bureau.asc', bureau.publicKey.armor()),
          bureauFingerprint: bureau.fingerprint,
          archivePublicKeyFile: writeKey('cfg-archive.asc', archive.publicKey.armor()),
          archiveFingerprint: archive.fingerprint,
          sign: { enabled: true, privateKeyFile: writeKey('cfg-sign.asc', signer.privateKey), passphraseEnv: 'TEST_SIGN_PASS' },
          armor: true,
        },
      }).pgp;
      const loaded = await pgpConfigFromConfig(pgp, { log: silentLogger, env: { TEST_SIGN_PASS: 'sign-secret-42' } });
      assert.deepEqual(loaded.recipients.map((k) => k.getFingerprint().toUpperCase()), [bureau.fingerprint, archive.fingerprint]);
      assert.deepEqual(loaded.keys.map((k) => k.fingerprint), [bureau.fingerprint, archive.fingerprint]);
      assert.ok(loaded.signingKey?.isDecrypted());
      assert.equal(loaded.armor, true);
    });

    it('names the missing config key', async function () {
      await assert.rejects(pgpConfigFromConfig(testConfig().pgp, { log: silentLogger }), refused(/pgp\.bureauPublicKeyFile is required/, ConfigError));
      const bureau = await makeKey();
      const pgp = testConfig({ pgp: { bureauPublicKeyFile: writeKey('cfg2.asc', bureau.publicKey.armor()), bureauFingerprint: bureau.fingerprint, sign: { enabled: true } } }).pgp;
      await assert.rejects(pgpConfigFromConfig(pgp, { log: silentLogger }), refused(/pgp\.sign\.privateKeyFile is required/, ConfigError));
    });
  });
});
