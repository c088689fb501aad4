import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { LoadedConfig } from '../../src/config/load.js';
import { PermanentError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { initSandbox, type InitResult } from '../../src/sandbox/init.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/serve.js';
import { withSession } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { loadSandboxConfig } from './helpers.js';

/** Our SFTP transport against the sandbox server: everything the jobs do on the bureau's server works there too. */
describe('sandbox SFTP server behind our transport', function () {
  let base: string;
  let sandbox: InitResult;
  let config: LoadedConfig;
  let running: RunningSandbox;

  before(async function () {
    base = mkdtempSync(join(tmpdir(), 'bx-sbx-transport-'));
    sandbox = await initSandbox(join(base, 'sbx'));
    config = loadSandboxConfig(sandbox.configFile);
    running = await startSandbox(config, { log: silentLogger, poll: false });
  });
  after(async function () {
    await running?.close();
    rmSync(base, { recursive: true, force: true });
  });

  const transport = (overrides: Partial<LoadedConfig['sftp']> = {}) => makeSftpTransport({ ...config.sftp, ...overrides }, { log: silentLogger });
  const local = (path: string) => join(sandbox.sftpRoot, path);

  it('serves on the port and host key pinned in the sandbox config', function () {
    assert.equal(running.server.port, config.sftp.port);
    assert.equal(running.server.hostKeySha256, config.sftp.hostKeySha256);
  });

  it('takes an atomic upload: final name only, mode 0600, exact content', async function () {
    const content = randomBytes(700_000);
    await withSession(transport(), (s) => s.uploadAtomic(Readable.from([content]), '/inbound', 'X_1.dat.pgp', content.length));
    assert.deepEqual(readdirSync(local('inbound')), ['X_1.dat.pgp']);
    assert.ok(readFileSync(local('inbound/X_1.dat.pgp')).equals(content));
    assert.equal(statSync(local('inbound/X_1.dat.pgp')).mode & 0o777, 0o600);
  });

  it('never lets an upload replace a delivered file', async function () {
    await assert.rejects(
      withSession(transport(), (s) => s.uploadAtomic(Readable.from([Buffer.from('other')]), '/inbound', 'X_1.dat.pgp', 5)),
      PermanentError,
    );
    assert.equal(statSync(local('inbound/X_1.dat.pgp')).size, 700_000);
  });

  it('lists, stats, downloads, moves into a new folder and removes', async function () {
    writeFileSync(local('outbound/R1.xml.rsa'), 'report one');
    await withSession(transport(), async (s) => {
      const r1 = (await s.list('/outbound')).find((e) => e.name === 'R1.xml.rsa');
      assert.equal(r1?.type, 'file');
      assert.equal(r1?.size, 10);
      assert.equal((await s.stat('/outbound'))?.type, 'dir');
      assert.equal(await s.stat('/outbound/missing'), null);
      const chunks: Buffer[] = [];
      const sink = new Writable({ write: (c, _e, done) => { chunks.push(c); done(); } });
      assert.equal(await s.download('/outbound/R1.xml.rsa', sink), 10);
      assert.equal(Buffer.concat(chunks).toString(), 'report one');
      await s.move('/outbound/R1.xml.rsa', '/outbound/processed/R1.xml.rsa');
      assert.ok(existsSync(local('outbound/processed/R1.xml.rsa')));
      await s.remove('/outbound/processed/R1.xml.rsa');
      assert.equal(await s.stat('/outbound/processed/R1.xml.rsa'), null);
    });
  });

  it('is refused by our transport when the pinned host key differs', async function () {
    const wrong = 'SHA256:' + randomBytes(32).toString('base64').replace(/=+$/, '');
    await assert.rejects(transport({ hostKeySha256: wrong }).connect(), /does not match the pinned/);
  });
});
