import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { BureauFolder, header, reportName, rsaKeyPair, shipment, xmlOf } from './fixtures.js';
import { contractOf, seedBatch } from './seed.js';

describe('bureau-exchange receive (CLI, SQLite, real sshd)', function () {
  let sshd: SshdServer;
  let bureau: BureauFolder;
  let dir: string;
  let config: string;
  let db: Db;
  let publicPem: string;
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };

  before(async function () {
    requireSshd(this);
    sshd = await startSshd();
    bureau = new BureauFolder(sshd.root);
    dir = mkdtempSync(join(tmpdir(), 'bx-receive-cli-'));
    const keys = rsaKeyPair(dir, 'issuer');
    publicPem = keys.publicPem;
    config = join(dir, 'config.yaml');
    writeFileSync(config, [
      'issuer: { code: BXISSUER }', 'bureau: { code: BUREAU01 }', `workDir: ${dir}/var`,
      `sftp: { host: 127.0.0.1, port: ${sshd.port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyFile}, hostKeySha256: "${sshd.hostKeySha256}", retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } }`,
      `reports: { signatures: off, rsaPrivateKeyFile: ${keys.keyFile}, stableCheckSeconds: 0 }`,
      '',
    ].join('\n'));
    const migrated = await runCli(['--config', config, 'migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    db = openDatabase({ database: { client: 'sqlite', filename: join(dir, 'var', 'bureau-exchange.sqlite'), passwordEnv: 'X', pool: { min: 0, max: 1 }, migrateOnStart: false } });
  });
  after(async () => {
    await db?.destroy();
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exits 0 when every report applied, 1 when one was quarantined; status lists the quarantined report', async () => {
    const batch = await seedBatch(db, [1, 2]);
    const good = reportName();
    bureau.put(good, encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), shipments: [shipment(1, { shipped: '2026-11-26' })] })), publicPem));
    const ok = await runCli(['--config', config, 'receive'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`${good}\\s+0\\s+1\\s+0\\s+0`));
    assert.match(ok.stdout, /1 applied, 0 quarantined, 0 already applied before/);
    assert.equal((await contractOf(db, 1)).production_status, 'Shipped');

    const bad = reportName();
    bureau.put(bad, Buffer.alloc(300, 7));
    const failed = await runCli(['--config', config, 'receive'], env);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stdout, new RegExp(`${bad}\\s+decryption failed: encrypted size 300 is not a multiple of the 256-byte RSA block`));
    const status = await runCli(['--config', config, 'status'], env);
    assert.match(status.stdout, /Quarantined reports[\s\S]*encrypted size 300/);
    const requeued = await runCli(['--config', config, 'receive', '--requeue', 'all'], env);
    assert.equal(requeued.code, 1, 'the same bad file is quarantined again');
    assert.match(requeued.stdout, new RegExp(`Requeued reports[\\s\\S]*${bad}\\s+put back`));
    const usage = await runCli(['--config', config, 'receive', '--requeue', 'some'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--requeue: "some" is neither a report id \(1 to 2147483647\) nor "all"/);
  });

  it('exits 2 when the RSA key is not configured readable', async () => {
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, [
      'issuer: { code: BXISSUER }', 'bureau: { code: BUREAU01 }', `workDir: ${dir}/var`,
      `sftp: { host: 127.0.0.1, port: ${sshd.port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyFile}, hostKeySha256: "${sshd.hostKeySha256}" }`,
      `reports: { signatures: off, rsaPrivateKeyFile: ${dir}/missing.pem, stableCheckSeconds: 0 }`, '',
    ].join('\n'));
    bureau.put(reportName(), Buffer.alloc(256, 1));
    const r = await runCli(['--config', broken, 'receive'], env);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /RSA private key file .*missing\.pem cannot be read: ENOENT/);
  });
});
