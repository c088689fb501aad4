import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { rsaKeyPair } from '../inbound/fixtures.js';
import { createPublicKey } from 'node:crypto';
import { spkiSha256 } from '../../src/crypto/report-signature.js';

describe('bureau-exchange check with two bureaus, one of them misconfigured (CLI, real sshd, gpg keys)', function () {
  let sshd: SshdServer;
  let gpg: GpgHome;
  let dir: string;
  let config: string;

  before(async function () {
    this.timeout(120_000);
    requireSshd(this);
    sshd = await startSshd();
    gpg = createGpgHome();
    dir = mkdtempSync(join(tmpdir(), 'bx-check-bureaus-'));
    const b1 = gpg.generateKey('Bureau <bureau@example.test>');
    const emb = gpg.generateKey('Emb <emb@example.test>');
    const other = gpg.generateKey('Other <other@example.test>');
    const signing = rsaKeyPair(dir, 'bureau-signing');
    const pin = spkiSha256(createPublicKey(signing.publicPem));
    const sftp = (extra: string, hostKey = sshd.hostKeySha256) =>
      `{ host: 127.0.0.1, port: ${sshd.port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyFile}, hostKeySha256: "${hostKey}", retry: { attempts: 1 }${extra} }`;
    config = join(dir, 'config.yaml');
    writeFileSync(config, [
      'issuer: { code: BXISSUER }', `workDir: ${dir}/var`,
      'bureaus:',
      '  - code: BUREAU01',
      `    pgp: { bureauPublicKeyFile: ${gpg.exportPublicKey(b1)}, bureauFingerprint: "${b1}" }`,
      `    sftp: ${sftp('')}`,
      `    reports: { rsaPrivateKeyFile: ${signing.keyFile}, signingPublicKeyFile: ${signing.pubFile}, signingKeySha256: "${pin}" }`,
      '  - code: EMB01',
      '    name: Embossing partner',
      '    layout: emb-v1',
      // its key file is another key than the pinned one; its server's host key is not the pinned one; its report pin is wrong
      `    pgp: { bureauPublicKeyFile: ${gpg.exportPublicKey(other)}, bureauFingerprint: "${emb}" }`,
      `    sftp: ${sftp(', inboundDir: /emb-in, outboundDir: /emb-out', `SHA256:${'B'.repeat(43)}`)}`,
      `    reports: { rsaPrivateKeyFile: ${signing.keyFile}, signingPublicKeyFile: ${signing.pubFile}, signingKeySha256: "${'0'.repeat(64)}" }`,
      'routing: { default: BUREAU01 }',
      '',
    ].join('\n'));
  });
  after(async () => {
    await sshd?.stop();
    gpg?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('checks every bureau, says per bureau what passed and failed, and exits 1 when one failed', async function () {
    this.timeout(120_000);
    const r = await runCli(['--config', config, 'check']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const [first, second] = r.stdout.split(/^(?=Bureau )/m);
    assert.match(first!, /^Bureau BUREAU01\n/);
    assert.match(first!, /layout\s+ok\s+perso-v1 \(\d+-character records\), LF, files named like BXISSUER_PERSO_\d{8}_000001\.dat\.pgp/);
    assert.match(first!, /pgp bureau key\s+ok/);
    assert.match(first!, /report signing key\s+ok/);
    assert.match(first!, /sftp login\s+ok/);
    assert.match(first!, /BUREAU01: every check passed/);
    assert.doesNotMatch(first!, /FAILED/);
    assert.match(second!, /^Bureau EMB01 \(Embossing partner\)\n/);
    assert.match(second!, /layout\s+ok\s+emb-v1 .*CRLF, files named like BXISSUER_EMB_\d{8}_000001\.txt\.pgp/);
    assert.match(second!, /pgp keys\s+FAILED/);
    assert.match(second!, /report signing key\s+FAILED\s+config: .*does not match the pinned/);
    assert.match(second!, /sftp connection\s+FAILED\s+.*host key SHA256:\S+ of 127\.0\.0\.1:\d+ does not match the pinned SHA256:B{43}/);
    assert.match(second!, /EMB01: 3 check\(s\) FAILED/);
  });

  it('--bureau checks that bureau only; an unknown code is a usage error', async function () {
    this.timeout(120_000);
    const one = await runCli(['--config', config, 'check', '--bureau', 'BUREAU01']);
    assert.equal(one.code, 0, one.stdout + one.stderr);
    assert.match(one.stdout, /BUREAU01: every check passed/);
    assert.doesNotMatch(one.stdout, /EMB01/);
    const bad = await runCli(['--config', config, 'check', '--bureau', 'EMB01']);
    assert.equal(bad.code, 1);
    assert.doesNotMatch(bad.stdout, /BUREAU01/);
    const unknown = await runCli(['--config', config, 'check', '--bureau', 'NOPE']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /--bureau: "NOPE" is not a configured bureau \(BUREAU01, EMB01\)/);
  });
});
