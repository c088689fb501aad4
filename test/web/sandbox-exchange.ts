import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotEnv } from 'dotenv';
import type { LoadedConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log.js';
import { writeDemoContracts } from '../../src/sandbox/demo-data.js';
import { initSandbox, type InitResult } from '../../src/sandbox/init.js';
import { startSandbox } from '../../src/sandbox/serve.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { loadSandboxConfig } from '../sandbox/helpers.js';

/** A sandbox after a real exchange through the CLI: import, send, the bureau's answer, receive. */
export interface Exchanged {
  sandbox: InitResult;
  config: LoadedConfig;
  /** the environment the CLI needs (the sandbox's PAN key) */
  env: NodeJS.ProcessEnv;
  cli(args: string[]): Promise<CliResult>;
  send: CliResult;
  receive: CliResult;
}

/**
 * Creates a sandbox in `dir`, imports `cards` generated contracts, then runs `send --force` and
 * `receive` as an operator would, with the sandbox SFTP server and bureau answering in between.
 * Both runs go through the CLI, so they are in the run history too.
 */
export async function exchangeThroughSandbox(dir: string, cards: number, seed = 7): Promise<Exchanged> {
  const sandbox = await initSandbox(dir);
  const config = loadSandboxConfig(sandbox.configFile);
  const env = { BX_PAN_KEY: parseDotEnv(readFileSync(sandbox.envFile)).BX_PAN_KEY! };
  const cli = (args: string[]) => runCli(['--config', sandbox.configFile, '--log-level', 'warn', ...args], env);
  const running = await startSandbox(config, { log: silentLogger, seed, poll: false });
  try {
    const contracts = join(sandbox.dir, 'contracts.jsonl');
    await writeDemoContracts(contracts, cards, { seed, now: new Date() });
    assert.equal((await cli(['migrate'])).code, 0);
    const imported = await cli(['contracts', 'import', contracts]);
    assert.ok(imported.code === 0 || imported.code === 3, imported.stderr);
    const send = await cli(['send', '--force']);
    assert.ok(send.code === 0 || send.code === 3, `send: ${send.stdout}${send.stderr}`);
    const answers = await running.simulator.answerNewFiles();
    assert.ok(answers.length > 0 && answers.every((a) => a.accepted), 'the bureau accepted the file');
    const receive = await cli(['receive']);
    assert.equal(receive.code, 0, `receive: ${receive.stdout}${receive.stderr}`);
    return { sandbox, config, env, cli, send, receive };
  } finally {
    await running.close();
  }
}
