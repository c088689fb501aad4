import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PanCipher } from '../../src/security/pan.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { startWebhook } from '../helpers/webhook.js';
import { insertCards } from '../outbound/fixtures.js';
import type { BureauKeys } from '../outbound/harness.js';
import { useSshdAndBureauKeys } from '../outbound/job-harness.js';
import { freePort, startDaemonChild, writeDaemonConfig } from './e2e-harness.js';

/** The CLI as an operator and systemd use it: exit codes 0, 1, 2, 3. */
describe('run-once and daemon commands (CLI, real sshd)', function () {
  this.timeout(60_000);
  let sshd: SshdServer;
  let keys: BureauKeys;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let configFile: string;
  const panKey = randomBytes(32);
  const env = { BX_PAN_KEY: panKey.toString('base64') };

  useSshdAndBureauKeys(async (started) => {
    ({ sshd, keys } = started);
    database = await createTestDatabase('sqlite');
    const keyDir = mkdtempSync(join(tmpdir(), 'bx-rsa-'));
    const rsaKey = join(keyDir, 'issuer-rsa.pem');
    execFileSync('openssl', ['genrsa', '-out', rsaKey, '2048'], { stdio: 'ignore' });
    chmodSync(rsaKey, 0o600);
    // the bureau's report-signing key, pinned: an unsigned report is quarantined (bureau-interface 1.1)
    const signingPub = join(keyDir, 'bureau-report-signing.pub.pem');
    execFileSync('openssl', ['pkey', '-in', rsaKey, '-pubout', '-out', signingPub]);
    const pin = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: execFileSync('openssl', ['pkey', '-pubin', '-in', signingPub, '-outform', 'DER']), encoding: 'utf8' }).split(' ')[0];
    configFile = writeDaemonConfig({
      keys, sshd, database: database.database, httpPort: await freePort(), shutdownTimeoutSeconds: 5,
      extra: { reports: { rsaPrivateKeyFile: rsaKey, signingPublicKeyFile: signingPub, signingKeySha256: pin, minAgeSeconds: 0, stableCheckSeconds: 0 } },
    }).file;
  });
  after(async () => {
    await database?.drop();
  });
  afterEach(() => {
    for (const dir of ['inbound', 'outbound']) {
      for (const name of readdirSync(join(sshd.root, dir))) rmSync(join(sshd.root, dir, name), { recursive: true, force: true });
    }
  });

  it('exit 0 when all went well', async () => {
    await insertCards(database.db, new PanCipher(panKey), 1, 2);
    const { code, stdout, stderr } = await runCli(['run-once', '-c', configFile, '--business-date', '2026-11-26'], env);
    assert.equal(code, 0, stderr + stdout);
    assert.match(stdout, /send: 2 card\(s\) in 1 file\(s\), 0 Invalid/);
    assert.match(stdout, /receive: 0 report\(s\) applied, 0 quarantined/);
    assert.deepEqual(readdirSync(join(sshd.root, 'inbound')), ['BXISSUER_PERSO_20261126_000001.dat.pgp']);
  });

  it('exit 3 when a contract was set Invalid (partial)', async () => {
    await insertCards(database.db, new PanCipher(panKey), 10, 1, () => ({ cardForm: 'virtual' } as any));
    const { code, stdout } = await runCli(['run-once', '-c', configFile, '--send-only', '--json'], env);
    assert.equal(code, 3, stdout);
    const outcome = JSON.parse(stdout.slice(stdout.indexOf('{\n')));
    assert.equal(outcome.send.result.invalid.length, 1);
    assert.equal(outcome.receive, undefined, '--send-only');
  });

  it('exit 3 when a report was quarantined, and the next run is clean', async () => {
    const name = 'BXISSUER_REPORT_20261126_000001.xml.rsa';
    const file = join(sshd.root, 'outbound', name);
    writeFileSync(file, randomBytes(256));
    chownSync(file, 65534, 65534);
    // the quarantine is alerted too (the webhook of this run's config)
    const alerts: Array<{ kind: string; message: string }> = [];
    const hook = await startWebhook((request, res) => { alerts.push(JSON.parse(request.body)); res.end(); });
    const alerting = join(mkdtempSync(join(tmpdir(), 'bx-cfg-')), 'config.yaml');
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    config.alerts = { webhookUrl: hook.url, retries: 0 };
    writeFileSync(alerting, JSON.stringify(config));
    try {
      const { code, stdout } = await runCli(['run-once', '-c', alerting, '--receive-only'], env);
      assert.equal(code, 3, stdout);
      assert.match(stdout, /receive: 0 report\(s\) applied, 1 quarantined/);
      assert.match(stdout, new RegExp(`${name.replaceAll('.', '\\.')}.*not authenticated: signature missing`));
      assert.deepEqual(alerts.map((a) => a.kind), ['quarantine']);
      assert.match(alerts[0]!.message, new RegExp(`^report ${name.replaceAll('.', '\\.')} quarantined: .*signature missing`));
    } finally {
      await hook.close();
    }
    const again = await runCli(['run-once', '-c', configFile, '--receive-only'], env);
    assert.equal(again.code, 0, again.stdout);
  });

  it('exit 1 when a job failed (server unreachable)', async () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'bx-cfg-')), 'config.yaml');
    const config = JSON.parse((await import('node:fs')).readFileSync(configFile, 'utf8'));
    config.sftp.port = await freePort();
    config.sftp.retry = { attempts: 1, baseDelayMs: 10, maxDelayMs: 10 };
    writeFileSync(broken, JSON.stringify(config));
    const { code, stdout } = await runCli(['run-once', '-c', broken, '--receive-only'], env);
    assert.equal(code, 1, stdout);
    assert.match(stdout, /receive: FAILED: /);
  });

  it('exit 2 on usage errors', async () => {
    const both = await runCli(['run-once', '-c', configFile, '--send-only', '--receive-only'], env);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--send-only and --receive-only exclude each other/);
    const date = await runCli(['run-once', '-c', configFile, '--business-date', '2026-02-30'], env);
    assert.equal(date.code, 2);
    assert.match(date.stderr, /--business-date: "2026-02-30" is not a date/);
  });

  it('daemon: refuses to start without the SFTP host (exit 2); stops on SIGTERM with exit 0', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'bx-cfg-')), 'config.yaml');
    const config = JSON.parse((await import('node:fs')).readFileSync(configFile, 'utf8'));
    delete config.sftp.host;
    writeFileSync(missing, JSON.stringify(config));
    const refused = await runCli(['daemon', '-c', missing], env);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /sftp\.host is required for the daemon/);

    const { spawn } = await import('node:child_process');
    const { PROJECT_ROOT } = await import('../../src/config/load.js');
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'bureau-exchange.js'), 'daemon', '-c', configFile], {
      env: { ...process.env, BX_CONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const end = Date.now() + 30_000;
    while (!output.includes('lease acquired') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.match(output, /lease acquired/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    assert.match(output, /daemon stopped/);
  });
});
