import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import type { AnsweredFile } from '../../src/sandbox/bureau.js';
import { initSandbox, type InitResult } from '../../src/sandbox/init.js';
import { startSandbox } from '../../src/sandbox/serve.js';
import { loadSandboxConfig } from './helpers.js';

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('sandbox serve', function () {
  this.timeout(60_000);
  let base: string;
  let sandbox: InitResult;

  before(async function () {
    base = mkdtempSync(join(tmpdir(), 'bx-sbx-serve-'));
    sandbox = await initSandbox(join(base, 'sbx'));
    writeFileSync(sandbox.settingsFile, 'pollIntervalMs: 50\n');
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('keeps watching the inbound folder and answers each new file once', async function () {
    const answered: AnsweredFile[] = [];
    const running = await startSandbox(loadSandboxConfig(sandbox.configFile), { log: silentLogger, onAnswer: (a) => answered.push(a) });
    try {
      writeFileSync(join(sandbox.inbound, 'BXISSUER_PERSO_20261125_000001.dat.pgp'), 'not encrypted');
      const first = await waitFor(() => answered[0]);
      assert.equal(first.accepted, false);
      writeFileSync(join(sandbox.inbound, 'BXISSUER_PERSO_20261125_000002.dat.pgp'), 'not encrypted either');
      await waitFor(() => answered[1]);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(answered.map((a) => a.sourceFile), ['BXISSUER_PERSO_20261125_000001.dat.pgp', 'BXISSUER_PERSO_20261125_000002.dat.pgp']);
      assert.equal(readdirSync(sandbox.outbound).filter((n) => n.endsWith('.xml.rsa')).length, 2);
    } finally {
      await running.close();
    }
  });

  it('says so when the sandbox port is already in use', async function () {
    const config = loadSandboxConfig(sandbox.configFile);
    const first = await startSandbox(config, { log: silentLogger, poll: false });
    try {
      await assert.rejects(startSandbox(config, { log: silentLogger, poll: false }), /is in use: is this sandbox already being served/);
    } finally {
      await first.close();
    }
  });

  it('refuses to start when the pinned host key is not the sandbox key', async function () {
    const config = loadSandboxConfig(sandbox.configFile);
    config.sftp.hostKeySha256 = 'SHA256:' + 'A'.repeat(43);
    await assert.rejects(startSandbox(config, { log: silentLogger }), /is not the sandbox host key/);
  });

  it('runs as `sandbox serve --config` until SIGTERM, then stops cleanly', async function () {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'bureau-exchange.js'), 'sandbox', 'serve', '--config', sandbox.configFile, '--seed', '5'], {
      env: { ...process.env, BX_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => (out.includes('sandbox bureau serving') ? true : undefined), 30_000);
      writeFileSync(join(sandbox.inbound, 'BXISSUER_PERSO_20261125_000003.dat.pgp'), 'garbage');
      await waitFor(() => (out.includes('answered a personalization file') ? true : undefined));
      // logged as the report is out; the state is saved just after (src/sandbox/bureau.ts)
      await waitFor(() => (existsSync(join(sandbox.dir, 'bureau-state.json')) ? true : undefined));
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
    assert.match(out, /sandbox bureau stopped/);
  });

  it('as `sandbox serve` plays both bureaus of a two-bureau sandbox, each answering in its own account', async function () {
    const two = await initSandbox(join(base, 'two'), { bureaus: 2 });
    writeFileSync(two.settingsFile, 'pollIntervalMs: 50\n');
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'bureau-exchange.js'), 'sandbox', 'serve', '--config', two.configFile], {
      env: { ...process.env, BX_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const emb = two.bureaus[1]!;
    try {
      await waitFor(() => (out.includes('(Ctrl-C to stop)') ? true : undefined), 30_000);
      assert.match(out, /"bureau":"EMB01"[^\n]*"port":\d+/);
      writeFileSync(join(emb.inbound, 'BXISSUER_EMB_20261125_000001.txt.pgp'), 'not encrypted');
      await waitFor(() => (readdirSync(emb.outbound).some((n) => n.endsWith('.xml.rsa')) ? true : undefined));
      assert.deepEqual(readdirSync(two.outbound), [], "nothing in the first bureau's account");
      // the bureau keeps its state once the report is out (src/sandbox/bureau.ts): a moment later
      await waitFor(() => (existsSync(emb.stateFile) ? true : undefined));
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
  });
});
