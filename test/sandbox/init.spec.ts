import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadRecipientKey } from '../../src/crypto/pgp.js';
import { UsageError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { initSandbox, type InitResult } from '../../src/sandbox/init.js';
import { SANDBOX_KEY_FILES as K } from '../../src/sandbox/keys.js';
import { sshFingerprint } from '../../src/sandbox/sftp-server.js';
import { requireGpg } from '../helpers/gpg.js';
import { runCli } from '../helpers/cli.js';
import { loadSandboxConfig } from './helpers.js';

describe('sandbox init', function () {
  let base: string;
  let sandbox: InitResult;

  before(async function () {
    base = mkdtempSync(join(tmpdir(), 'bx-sbx-init-'));
    sandbox = await initSandbox(join(base, 'sbx'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const mode = (file: string) => statSync(file).mode & 0o777;

  it('writes a complete config that loads and points at the sandbox', function () {
    const config = loadSandboxConfig(sandbox.configFile);
    assert.equal(config.environment, 'T');
    assert.equal(config.database.client, 'sqlite');
    assert.ok(config.database.filename.startsWith(sandbox.dir));
    assert.equal(config.sftp.host, '127.0.0.1');
    assert.equal(config.sftp.port, sandbox.port);
    assert.equal(config.sftp.privateKeyFile, join(sandbox.keysDir, K.sftpClientPrivate));
    assert.equal(config.pgp.bureauPublicKeyFile, join(sandbox.keysDir, K.bureauPgpPublic));
    assert.equal(config.reports.rsaPrivateKeyFile, join(sandbox.keysDir, K.issuerRsaPrivate));
    assert.equal(config.reports.signatures, 'required');
    assert.equal(config.reports.signingPublicKeyFile, join(sandbox.keysDir, K.bureauReportSigningPublic));
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', config.reports.signingPublicKeyFile, '-outform', 'DER']);
    const pin = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(' ')[0];
    assert.equal(config.reports.signingKeySha256, pin, 'the pin is what openssl computes from the key file');
    assert.equal(config.reports.minAgeSeconds, 0);
  });

  it('pins the host key fingerprint the way ssh-keygen prints it', function () {
    const config = loadSandboxConfig(sandbox.configFile);
    assert.equal(config.sftp.hostKeySha256, sshFingerprint(readFileSync(join(sandbox.keysDir, K.sftpHostPrivate))));
    const printed = execFileSync('ssh-keygen', ['-lf', join(sandbox.keysDir, K.sftpHostPublic)], { encoding: 'utf8' });
    assert.ok(printed.includes(config.sftp.hostKeySha256!), printed);
  });

  it('pins the bureau OpenPGP key, which our key checks accept', async function () {
    const config = loadSandboxConfig(sandbox.configFile);
    const { info } = await loadRecipientKey(config.pgp.bureauPublicKeyFile!, config.pgp.bureauFingerprint, { warnDays: 0, log: silentLogger, purpose: 'bureau' });
    assert.equal(info.fingerprint, sandbox.keys.bureauFingerprint);
  });

  it('generates a PAN data key in .env, readable only by the owner', function () {
    const env = readFileSync(sandbox.envFile, 'utf8');
    const key = /^BX_PAN_KEY=(\S+)$/m.exec(env)?.[1];
    assert.equal(Buffer.from(key!, 'base64').length, 32);
    assert.equal(mode(sandbox.envFile), 0o600);
  });

  it('keeps private keys at mode 0600 and says they are for tests only', function () {
    for (const f of [K.bureauPgpSecret, K.issuerPgpSecret, K.issuerRsaPrivate, K.bureauReportSigningPrivate, K.sftpClientPrivate, K.sftpHostPrivate]) {
      assert.equal(mode(join(sandbox.keysDir, f)), 0o600, f);
    }
    assert.match(readFileSync(join(sandbox.keysDir, 'README'), 'utf8'), /TEST ONLY/);
    assert.match(readFileSync(sandbox.configFile, 'utf8'), /TEST ONLY/);
    assert.ok(statSync(sandbox.inbound).isDirectory() && statSync(sandbox.outbound).isDirectory());
  });

  it('makes a bureau key gpg imports', function () {
    requireGpg(this);
    const home = mkdtempSync(join(tmpdir(), 'bx-gpg-'));
    try {
      execFileSync('gpg', ['--homedir', home, '--batch', '--import', join(sandbox.keysDir, K.bureauPgpSecret)], { stdio: 'pipe' });
      const listed = execFileSync('gpg', ['--homedir', home, '--batch', '--list-secret-keys', '--with-colons'], { encoding: 'utf8' });
      assert.ok(listed.includes(sandbox.keys.bureauFingerprint));
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses a folder that already holds a sandbox', async function () {
    await assert.rejects(initSandbox(sandbox.dir), UsageError);
  });

  it('is the `sandbox init DIR` command', async function () {
    const result = await runCli(['sandbox', 'init', join(base, 'by-cli')]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Sandbox created in .*by-cli/);
    assert.match(result.stdout, /sandbox serve --config/);
    const again = await runCli(['sandbox', 'init', join(base, 'by-cli')]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
  });

  describe('with two bureaus', function () {
    let two: InitResult;
    before(async function () {
      two = await initSandbox(join(base, 'two'), { bureaus: 2 });
    });

    it('writes a config in the bureaus + routing form that loads: EMB01 in emb-v1 with its own keys, server and folders', async function () {
      const config = loadSandboxConfig(two.configFile);
      assert.deepEqual(config.bureaus.map((b) => [b.code, basename(b.layout), b.lineEnding]), [['BUREAU01', 'perso-v1.yaml', 'LF'], ['EMB01', 'emb-v1.yaml', 'CRLF']]);
      assert.deepEqual(config.routing, { rules: [{ bureau: 'EMB01', when: { productCode: ['GOLD01', 'PLATIN01'] } }], default: 'BUREAU01' });
      const [first, emb] = config.bureaus;
      assert.equal(config.sftp.port, two.port, 'the top level is the first bureau');
      assert.notEqual(emb!.sftp.port, first!.sftp.port);
      assert.equal(emb!.sftp.port, two.bureaus[1]!.port);
      assert.equal(emb!.sftp.inboundDir, '/in');
      assert.equal(emb!.pgp.bureauPublicKeyFile, join(two.keysDir, 'EMB01', K.bureauPgpPublic));
      assert.equal(emb!.reports.signingPublicKeyFile, join(two.keysDir, 'EMB01', K.bureauReportSigningPublic));
      assert.equal(emb!.sftp.hostKeySha256, sshFingerprint(readFileSync(join(two.keysDir, 'EMB01', K.sftpHostPrivate))));
      assert.notEqual(emb!.pgp.bureauFingerprint, first!.pgp.bureauFingerprint);
      assert.notEqual(emb!.reports.signingKeySha256, first!.reports.signingKeySha256);
      assert.notEqual(emb!.sftp.hostKeySha256, first!.sftp.hostKeySha256);
      const { info } = await loadRecipientKey(emb!.pgp.bureauPublicKeyFile!, emb!.pgp.bureauFingerprint, { warnDays: 0, log: silentLogger, purpose: 'bureau' });
      assert.equal(info.fingerprint, two.bureaus[1]!.pins.bureauFingerprint);
      for (const f of [K.bureauPgpSecret, K.bureauReportSigningPrivate, K.sftpHostPrivate]) assert.equal(mode(join(two.keysDir, 'EMB01', f)), 0o600, f);
      assert.ok(statSync(join(two.dir, 'bureaus', 'EMB01', 'sftp', 'in')).isDirectory());
    });

    it('is `sandbox init --bureaus 2`, and refuses another count', async function () {
      const result = await runCli(['sandbox', 'init', '--bureaus', '2', join(base, 'two-by-cli')]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /bureau +BUREAU01: SFTP on 127\.0\.0\.1:\d+/);
      assert.match(result.stdout, /bureau +EMB01: SFTP on 127\.0\.0\.1:\d+/);
      assert.equal(loadSandboxConfig(join(base, 'two-by-cli', 'config.yaml')).bureaus.length, 2);
      const bad = await runCli(['sandbox', 'init', '--bureaus', '3', join(base, 'three')]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--bureaus must be 1 or 2/);
    });
  });
});
