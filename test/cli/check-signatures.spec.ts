import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { rsaKeyPair } from '../inbound/fixtures.js';

/** The pin as docs/operations.md tells to compute it. */
function opensslPin(pubFile: string): string {
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', pubFile, '-outform', 'DER']);
  return execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(' ')[0]!;
}

describe('bureau-exchange check: the keys that verify report signatures (CLI, real sshd, gpg-made bureau key)', function () {
  let sshd: SshdServer;
  let gpg: GpgHome;
  let dir: string;
  let bureauFpr: string;
  let bureauPublic: string;
  let certOnlyFpr: string;
  let certOnlyPublic: string;
  let issuerSecret: string;
  let signing: ReturnType<typeof rsaKeyPair>;
  let other: ReturnType<typeof rsaKeyPair>;
  let short: { pubFile: string };

  before(async function () {
    requireSshd(this);
    sshd = await startSshd();
    gpg = createGpgHome();
    dir = mkdtempSync(join(tmpdir(), 'bx-check-sig-'));
    bureauFpr = gpg.generateKey('Bureau <bureau@example.test>');
    bureauPublic = gpg.exportPublicKey(bureauFpr);
    // a bureau key that can encrypt but not sign: a certify-only primary with an encryption subkey
    execFileSync('gpg', ['--homedir', gpg.home, '--batch', '--passphrase', '', '--pinentry-mode', 'loopback', '--quick-gen-key', 'No Sign <nosign@example.test>', 'ed25519', 'cert', '1y'], { stdio: 'pipe' });
    certOnlyFpr = execFileSync('gpg', ['--homedir', gpg.home, '--with-colons', '--list-keys', 'nosign@example.test'], { encoding: 'utf8', stdio: 'pipe' }).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9]!;
    execFileSync('gpg', ['--homedir', gpg.home, '--batch', '--passphrase', '', '--pinentry-mode', 'loopback', '--quick-add-key', certOnlyFpr, 'cv25519', 'encr', '1y'], { stdio: 'pipe' });
    certOnlyPublic = gpg.exportPublicKey(certOnlyFpr);
    issuerSecret = gpg.exportSecretKey(gpg.generateKey('Issuer <issuer@example.test>'));
    signing = rsaKeyPair(dir, 'bureau-signing');
    other = rsaKeyPair(dir, 'other');
    short = { pubFile: join(dir, 'short.pub.pem') };
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', join(dir, 'short.pem')], { stdio: 'ignore' });
    execFileSync('openssl', ['pkey', '-in', join(dir, 'short.pem'), '-pubout', '-out', short.pubFile]);
  });
  after(async function () {
    await sshd?.stop();
    gpg?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function configWith(o: { reports: string; pgpKey?: string; pgpFpr?: string }): string {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, [
      'issuer: { code: BXISSUER }', 'bureau: { code: BUREAU01 }', `workDir: ${dir}/var`,
      `pgp: { bureauPublicKeyFile: ${o.pgpKey ?? bureauPublic}, bureauFingerprint: "${o.pgpFpr ?? bureauFpr}" }`,
      `sftp: { host: 127.0.0.1, port: ${sshd.port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyFile}, hostKeySha256: "${sshd.hostKeySha256}", retry: { attempts: 1 } }`,
      `reports: { rsaPrivateKeyFile: ${signing.keyFile}, pgpPrivateKeyFile: ${issuerSecret}, ${o.reports} }`,
      '',
    ].join('\n'));
    return file;
  }
  const check = (config: string) => runCli(['--config', config, 'check']);

  it('reports the report-signing key (bits, pin) and the signing bureau OpenPGP key ok, exit 0', async function () {
    const pin = opensslPin(signing.pubFile);
    const result = await check(configWith({ reports: `signingPublicKeyFile: ${signing.pubFile}, signingKeySha256: "${pin.toUpperCase().match(/../g)!.join(':')}"` }));
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`report signing key\\s+ok\\s+RSA 2048 bits, SPKI SHA-256 ${pin} \\(pinned\\)`));
    assert.match(result.stdout, /pgp bureau key signs reports\s+ok\s+signing key [0-9A-F]{40}/);
  });

  it('fails clearly (exit 1) on a wrong pin, a short key, a missing key, and a bureau OpenPGP key that cannot sign', async function () {
    const wrongPin = await check(configWith({ reports: `signingPublicKeyFile: ${signing.pubFile}, signingKeySha256: "${opensslPin(other.pubFile)}"` }));
    assert.equal(wrongPin.code, 1, wrongPin.stdout + wrongPin.stderr);
    assert.match(wrongPin.stdout, new RegExp(`report signing key\\s+FAILED\\s+config: reports\\.signingPublicKeyFile \\S+ has SPKI SHA-256 ${opensslPin(signing.pubFile)}, which does not match the pinned reports\\.signingKeySha256 ${opensslPin(other.pubFile)}`));

    const shortKey = await check(configWith({ reports: `signingPublicKeyFile: ${short.pubFile}, signingKeySha256: "${opensslPin(short.pubFile)}"` }));
    assert.equal(shortKey.code, 1);
    assert.match(shortKey.stdout, /report signing key\s+FAILED\s+config: .* is a 1024-bit RSA key: at least 2048 bits are required/);

    const missing = await check(configWith({ reports: 'signatures: required' }));
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /report signing key\s+FAILED\s+config: reports\.signingPublicKeyFile \(with reports\.signingKeySha256\) is required to verify \.rsa reports/);

    const noSign = await check(configWith({ reports: `signingPublicKeyFile: ${signing.pubFile}, signingKeySha256: "${opensslPin(signing.pubFile)}"`, pgpKey: certOnlyPublic, pgpFpr: certOnlyFpr }));
    assert.equal(noSign.code, 1);
    assert.match(noSign.stdout, /pgp bureau key signs reports\s+FAILED\s+config: the bureau OpenPGP key \(pgp\.bureauPublicKeyFile\) cannot verify \.pgp reports/);
  });

  it('warns (exit 0) when signatures are off, and refuses a malformed pin at load (exit 2) naming the key', async function () {
    const off = await check(configWith({ reports: 'signatures: off' }));
    assert.equal(off.code, 0, off.stdout + off.stderr);
    assert.match(off.stdout, /report signatures\s+WARNING\s+reports\.signatures is off: reports are NOT authenticated/);
    const malformed = await check(configWith({ reports: `signingPublicKeyFile: ${signing.pubFile}, signingKeySha256: "SHA256:abc"` }));
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /reports\.signingKeySha256: a SHA-256 in hex \(64 hex digits\)/);
    const typo = await check(configWith({ reports: 'signatures: on' }));
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /reports\.signatures: required \(the default\) or off/);
  });
});
