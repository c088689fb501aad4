import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';

describe('bureau-exchange check (CLI, real sshd, gpg-made bureau key)', function () {
  let sshd: SshdServer;
  let gpg: GpgHome;
  let dir: string;
  let fingerprint: string;
  let publicKeyFile: string;

  before(async function () {
    requireSshd(this);
    sshd = await startSshd();
    gpg = createGpgHome();
    fingerprint = gpg.generateKey('Bureau <bureau@example.test>');
    publicKeyFile = gpg.exportPublicKey(fingerprint);
    dir = mkdtempSync(join(tmpdir(), 'bx-check-cli-'));
  });
  after(async function () {
    await sshd?.stop();
    gpg?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function configWith(sftp: string, pin = fingerprint): string {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, [
      'issuer: { code: BXISSUER }', 'bureau: { code: BUREAU01 }', `workDir: ${dir}/var`,
      `pgp: { bureauPublicKeyFile: ${publicKeyFile}, bureauFingerprint: "${pin}" }`,
      `sftp: { host: 127.0.0.1, port: ${sshd.port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyFile}, retry: { attempts: 1 }${sftp} }`,
      '',
    ].join('\n'));
    return file;
  }

  it('prints the server host key for pinning, without logging in', async function () {
    const result = await runCli(['--config', configWith(''), 'check', '--show-host-key']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`127\\.0\\.0\\.1:${sshd.port} host key ${sshd.hostKeySha256.replace(/\+/g, '\\+')}`));
  });

  it('reports every check ok (exit 0) when keys and connection are right', async function () {
    const result = await runCli(['--config', configWith(`, hostKeySha256: "${sshd.hostKeySha256}"`), 'check']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`pgp bureau key\\s+ok\\s+${fingerprint}`));
    assert.match(result.stdout, /sftp login\s+ok/);
    assert.match(result.stdout, /sftp folder \/inbound\s+ok/);
    assert.match(result.stdout, /sftp folder \/outbound\s+ok/);
  });

  it('reports a wrong host key and a wrong key pin as FAILED (exit 1)', async function () {
    const result = await runCli(['--config', configWith(`, hostKeySha256: "SHA256:${'C'.repeat(43)}"`, 'AAAA'.repeat(10)), 'check']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /pgp keys\s+FAILED\s+.*does not match the pinned AAAA/);
    assert.match(result.stdout, /sftp connection\s+FAILED\s+host key SHA256:\S+ of 127\.0\.0\.1:\d+ does not match the pinned/);
  });
});
