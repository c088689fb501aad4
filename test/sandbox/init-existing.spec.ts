import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/errors.js';
import { initSandbox } from '../../src/sandbox/init.js';
import { runCli } from '../helpers/cli.js';

/**
 * `sandbox init DIR` into a folder that holds something of its own names: a deployment's `.env`
 * (its PAN data key), keys, an old sandbox's database or bureau state. Nothing may be replaced.
 */
describe('sandbox init into a folder that already holds files of its names', function () {
  let base: string;
  before(() => (base = mkdtempSync(join(tmpdir(), 'bx-sbx-existing-'))));
  after(() => rmSync(base, { recursive: true, force: true }));

  const REAL_ENV = 'BX_PAN_KEY=the-production-key-that-must-never-be-lost\n';

  it('refuses a folder whose .env exists (another config beside it): the .env is left as it was, nothing is written', async function () {
    const dir = join(base, 'deployment');
    mkdirSync(dir);
    writeFileSync(join(dir, '.env'), REAL_ENV, { mode: 0o600 });
    writeFileSync(join(dir, 'production.yaml'), 'environment: P\n');
    await assert.rejects(initSandbox(dir), (err: Error) => err instanceof UsageError && /\.env/.test(err.message));
    assert.equal(readFileSync(join(dir, '.env'), 'utf8'), REAL_ENV);
    assert.deepEqual(readdirSync(dir).sort(), ['.env', 'production.yaml'], 'no key, config or folder was written');
  });

  for (const entry of ['keys', 'var', 'sftp', 'bureaus', 'bureau.yaml', 'bureau-state.json']) {
    it(`refuses a folder that holds ${entry} (an old sandbox's keys, database or state would be mixed with new keys)`, async function () {
      const dir = join(base, `old-${entry}`);
      mkdirSync(dir);
      const mine = join(dir, entry);
      if (entry.includes('.')) writeFileSync(mine, 'mine\n');
      else {
        mkdirSync(mine);
        writeFileSync(join(mine, 'sftp-client.key'), 'mine\n');
      }
      await assert.rejects(initSandbox(dir), (err: Error) => err instanceof UsageError && err.message.includes(entry));
      assert.deepEqual(readdirSync(dir), [entry]);
    });
  }

  it('refuses a dangling symbolic link named .env, and writes nothing through it', async function () {
    const dir = join(base, 'link');
    mkdirSync(dir);
    const target = join(base, 'elsewhere.env');
    symlinkSync(target, join(dir, '.env'));
    await assert.rejects(initSandbox(dir), UsageError);
    assert.equal(existsSync(target), false);
  });

  it('`sandbox init` exits 2 naming the file, and keeps it', async function () {
    const dir = join(base, 'by-cli');
    mkdirSync(dir);
    writeFileSync(join(dir, '.env'), REAL_ENV, { mode: 0o600 });
    const result = await runCli(['sandbox', 'init', dir]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /\.env/);
    assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
    assert.equal(readFileSync(join(dir, '.env'), 'utf8'), REAL_ENV);
  });

  it('still makes a sandbox in a folder holding other files (a README)', async function () {
    const dir = join(base, 'with-readme');
    mkdirSync(dir);
    writeFileSync(join(dir, 'README'), 'notes\n');
    const made = await initSandbox(dir);
    assert.ok(existsSync(made.configFile));
    assert.equal(readFileSync(join(dir, 'README'), 'utf8'), 'notes\n');
  });
});
