import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseDotEnv } from 'dotenv';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { silentLogger } from '../../src/log.js';
import { writeDemoContracts } from '../../src/sandbox/demo-data.js';
import { initSandbox } from '../../src/sandbox/init.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/serve.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { loadSandboxConfig } from '../sandbox/helpers.js';

const BIN = join(PROJECT_ROOT, 'bin', 'bureau-exchange.js');

/**
 * `send` under SIGINT, as docs/commands.md says: the first signal stops after the current batch
 * reaches its next state, a second one exits at once with 130; either way the next send carries on
 * and every card goes out exactly once.
 */
describe('send: SIGINT once stops at a safe point, twice exits 130 (CLI, sandbox SFTP)', function () {
  this.timeout(300_000);
  let dir: string;
  let running: RunningSandbox;
  let configFile: string;
  let env: NodeJS.ProcessEnv;
  let db: Db;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bx-send-signals-'));
    const sandbox = await initSandbox(join(dir, 'sbx'));
    configFile = sandbox.configFile;
    // the lease a killed send leaves runs out in 10 s, not 60
    appendFileSync(configFile, '\ndaemon: { leaseTtlSeconds: 10 }\n');
    const config = loadSandboxConfig(configFile);
    running = await startSandbox(config, { log: silentLogger, poll: false });
    env = { BX_PAN_KEY: parseDotEnv(readFileSync(sandbox.envFile)).BX_PAN_KEY! };
    assert.equal((await runCli(['--config', configFile, 'migrate'], env)).code, 0);
    db = openDatabase(config);
  });
  after(async () => {
    await db?.destroy();
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Imports `cards` new contracts (Marked); returns how many the send may take (not virtual, not invalid: counted after). */
  async function importCards(cards: number, seed: number): Promise<void> {
    const file = join(dir, `contracts-${seed}.jsonl`);
    await writeDemoContracts(file, cards, { seed, now: new Date() });
    const r = await runCli(['--config', configFile, 'contracts', 'import', file], env);
    assert.ok(r.code === 0 || r.code === 3, r.stderr);
  }

  /** `send --force`, with SIGINT sent `signals` times once the run has started (100 ms apart). */
  function sendInterrupted(signals: number): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, '--config', configFile, '--log-level', 'info', 'send', '--force'], {
        env: { ...process.env, BX_CONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let sent = false;
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => {
        stderr += d;
        if (!sent && stderr.includes('"msg":"run started"')) {
          sent = true;
          for (let i = 0; i < signals; i++) setTimeout(() => child.kill('SIGINT'), 300 + 100 * i);
        }
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  /** Every card the send claimed is in exactly one sent batch, and nothing is left half-done. */
  async function assertEachCardSentOnce(): Promise<void> {
    const unsent = await db('perso_batches').whereNot({ state: 'sent' }).count({ n: '*' });
    assert.equal(Number(unsent[0]!.n), 0, 'a batch is left unsent');
    const [{ n: items }] = await db('batch_items').count({ n: '*' });
    const [{ n: distinct }] = await db('batch_items').countDistinct({ n: 'contract_id' });
    assert.equal(Number(items), Number(distinct), 'a card is in two batches');
    const [{ n: inProduction }] = await db('card_contracts').where({ production_status: 'InProduction' }).count({ n: '*' });
    assert.equal(Number(inProduction), Number(items));
    const [{ n: marked }] = await db('card_contracts').where({ production_status: 'Marked' }).count({ n: '*' });
    assert.equal(Number(marked), 0, 'a Marked card was left behind');
  }

  /** `send --force` again, as an operator would; after a forced exit the dead process's send lease is refused by name until it runs out. */
  async function sendAgain(): Promise<void> {
    const until = Date.now() + 60_000;
    for (;;) {
      const again = await runCli(['--config', configFile, 'send', '--force'], env);
      if (again.code === 0 || again.code === 3) return;
      assert.match(again.stderr, /another runner holds the send lease \(.+, until .+\)/, again.stderr);
      assert.ok(Date.now() < until, 'the send lease of the killed process never ran out');
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
  }

  it('one SIGINT lets the current batch reach its next state and ends the command normally', async () => {
    await importCards(8000, 12);
    const r = await sendInterrupted(1);
    assert.ok(r.code === 0 || r.code === 3, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
    assert.match(r.stderr, /SIGINT: stopping after the current batch/);
    assert.doesNotMatch(r.stderr, /"level":"(error|fatal)"/);
    await sendAgain();
    await assertEachCardSentOnce();
  });

  it('a second SIGINT exits 130; a send after the lease ran out sends every card once', async () => {
    await importCards(8000, 11);
    const r = await sendInterrupted(2);
    assert.equal(r.code, 130, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
    assert.match(r.stderr, /SIGINT: stopping after the current batch \(again to exit now\)/);
    await sendAgain();
    await assertEachCardSentOnce();
  });
});
