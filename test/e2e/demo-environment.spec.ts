import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { runDemo } from '../../src/sandbox/demo.js';
import { formatDemoSummary } from '../../src/sandbox/demo-summary.js';
import { runCli } from '../helpers/cli.js';

/**
 * `npm run demo` in a shell of the service's host or container, where BX_DATABASE_URL and BX_PAN_KEY
 * are exported for the real daemon. Before: the demo imported its cards into that database and its
 * send claimed every Marked card there into a file for the sandbox bureau. Now it runs on its own
 * SQLite file and key, and its printed commands do too.
 */
describe('demo with BX_ variables of a real deployment in the environment', function () {
  this.timeout(180_000);
  let base: string;
  before(() => (base = mkdtempSync(join(tmpdir(), 'bx-demo-env-'))));
  after(() => rmSync(base, { recursive: true, force: true }));

  /** the command starts with `env -u …` naming each variable of the deployment (and maybe others of the test run) */
  const unsets = (command: string) => {
    const prefix = /^\s*env((?: -u BX_\w+)+) npx bureau-exchange /.exec(command)?.[1];
    return Boolean(prefix) && Object.keys(deployment).every((name) => prefix!.includes(` -u ${name}`));
  };

  // nothing listens on port 1: before, the demo failed to connect there (and with a real URL, used it)
  const deployment = {
    BX_DATABASE_URL: 'postgres://bx@127.0.0.1:1/production', BX_DATABASE_CLIENT: 'pg',
    BX_PAN_KEY: randomBytes(32).toString('base64'), BX_DB_PASSWORD: 'secret-of-production',
  };

  it('`bureau-exchange demo` uses the sandbox\'s SQLite file and key, never the exported database', async function () {
    const result = await runCli(['demo', '--cards', '20', '--dir', join(base, 'cli')], deployment);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /OK: all 20 cards/);
    assert.match(result.stdout, /database +var\/bureau-exchange\.sqlite/);
    const named = /your environment sets (.*): the demo ran without them/.exec(result.stdout)?.[1]?.split(', ');
    for (const name of Object.keys(deployment)) assert.ok(named?.includes(name), `${name} named: ${named}`);
    assert.doesNotMatch(result.stdout + result.stderr, /secret-of-production|production/);
  });

  it('`sandbox init`: its next steps unset them too (they would import into and send from that database)', async function () {
    const result = await runCli(['sandbox', 'init', join(base, 'init')], deployment, 60_000);
    assert.equal(result.code, 0, result.stderr);
    const named = /your environment sets (.*): they would win/.exec(result.stdout)?.[1]?.split(', ');
    for (const name of Object.keys(deployment)) assert.ok(named?.includes(name), `${name} named: ${named}`);
    const steps = result.stdout.split('\n').filter((l) => l.includes('npx bureau-exchange'));
    assert.equal(steps.length, 4);
    for (const step of steps) assert.ok(unsets(step), step);
  });

  it('the printed commands run on the sandbox too, in that same environment', async function () {
    const outcome = await runDemo({ cards: 20, dir: join(base, 'lib'), env: { ...process.env, ...deployment } });
    assert.equal(outcome.ok, true, outcome.check.problems.join('\n'));
    assert.equal(outcome.config.database.client, 'sqlite');
    assert.ok(outcome.config.database.filename.startsWith(outcome.sandbox.dir));
    const status = formatDemoSummary(outcome).split('\n').map((l) => l.trim()).find((l) => l.endsWith(' status'))!;
    assert.ok(unsets(status), status);
    // `env -u … npx` runs the real npx, which finds this repository's bin from its folder
    const run = spawnSync('bash', ['-c', status], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, ...deployment, BX_CONFIG: '' } });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Shipped/);
  });
});
