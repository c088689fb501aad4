import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseDotEnv } from 'dotenv';
import { silentLogger } from '../../src/log.js';
import { writeDemoContracts } from '../../src/sandbox/demo-data.js';
import { initSandbox } from '../../src/sandbox/init.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/serve.js';
import { runCli } from '../helpers/cli.js';
import { loadSandboxConfig } from '../sandbox/helpers.js';

/**
 * run-once over two bureaus, the second one's SFTP server unreachable: the first bureau's file goes
 * out, and the history and the output say so, each send under its own bureau. It was one run named
 * `send` (the first bureau's): failed, 0 cards, no file, although BUREAU01's file was sent, and
 * `history --bureau EMB01` showed nothing of it.
 */
describe('run-once over several bureaus, one of them down (CLI, sandbox SFTP)', function () {
  this.timeout(180_000);
  let dir: string;
  let running: RunningSandbox;
  let cli: (...args: string[]) => ReturnType<typeof runCli>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bx-run-once-bureaus-'));
    const sandbox = await initSandbox(join(dir, 'sbx'), { bureaus: 2 });
    running = await startSandbox(loadSandboxConfig(sandbox.configFile), { log: silentLogger, poll: false });
    // EMB01 (the second bureau) on a port nobody listens on
    let seen = 0;
    const broken = join(sandbox.dir, 'emb01-down.yaml');
    writeFileSync(broken, readFileSync(sandbox.configFile, 'utf8').replace(/^(\s+port: )\d+/gm, (line, head: string) => (++seen === 2 ? `${head}1` : line)));
    assert.equal(seen, 2, 'two bureaus, two SFTP ports');
    const env = { BX_PAN_KEY: parseDotEnv(readFileSync(sandbox.envFile)).BX_PAN_KEY! };
    cli = (...args: string[]) => runCli(['--config', broken, '--log-level', 'warn', ...args], env);
    const contracts = join(dir, 'contracts.jsonl');
    await writeDemoContracts(contracts, 40, { seed: 3, now: new Date() });
    assert.equal((await cli('migrate')).code, 0);
    const imported = await cli('contracts', 'import', contracts);
    assert.ok(imported.code === 0 || imported.code === 3, imported.stderr);
  });
  after(async () => {
    await running?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints and records the file sent to BUREAU01, and EMB01's failure as EMB01's", async () => {
    const r = await cli('run-once', '--send-only', '--force', '--json');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const outcome = JSON.parse(r.stdout);
    assert.match(outcome.send.error, /^bureau EMB01: .*127\.0\.0\.1:1/);
    assert.equal(outcome.send.result.batches.length, 1, r.stdout);
    const [file] = outcome.send.result.batches;
    assert.equal(file.state, 'sent');
    assert.ok(outcome.send.result.cardsSent > 0);

    const runs = JSON.parse((await cli('history', '--json')).stdout);
    assert.deepEqual(runs.map((x: any) => [x.job, x.bureau, x.outcome]), [['send:EMB01', 'EMB01', 'failed'], ['send', 'BUREAU01', outcome.send.result.invalidTotal ? 'partial' : 'ok']]);
    assert.deepEqual(runs[1].files, [file.fileName]);
    assert.equal(runs[1].cardsSent, outcome.send.result.cardsSent);
    assert.equal(runs[1].error, null);
    const emb = JSON.parse((await cli('history', '--bureau', 'EMB01', '--json')).stdout);
    assert.deepEqual(emb.map((x: any) => [x.job, x.outcome]), [['send:EMB01', 'failed']]);

    const table = await cli('run-once', '--send-only', '--force');
    assert.equal(table.code, 1);
    assert.match(table.stdout, /send: FAILED: bureau EMB01: /);
  });
});
