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
    assert.match(result.stdout, /your environment sets BX_DATABASE_CLIENT, BX_DATABASE_URL, BX_DB_PASSWORD, BX_PAN_KEY: the demo ran without them/);
    assert.doesNotMatch(result.stdout + result.stderr, /secret-of-production|production/);
  });

  it('`sandbox init`: its next steps unset them too (they would import into and send from that database)', async function () {
    const result = await runCli(['sandbox', 'init', join(base, 'init')], deployment, 60_000);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /your environment sets BX_DATABASE_CLIENT, BX_DATABASE_URL, BX_DB_PASSWORD, BX_PAN_KEY/);
    const steps = result.stdout.split('\n').filter((l) => l.includes('npx bureau-exchange'));
    assert.equal(steps.length, 4);
    for (const step of steps) assert.match(step, /^ {2}env -u BX_DATABASE_CLIENT -u BX_DATABASE_URL -u BX_DB_PASSWORD -u BX_PAN_KEY npx bureau-exchange /);
  });

  it('the printed commands run on the sandbox too, in that same environment', async function () {
    const outcome = await runDemo({ cards: 20, dir: join(base, 'lib'), env: { ...process.env, ...deployment } });
    assert.equal(outcome.ok, true, outcome.check.problems.join('\n'));
    assert.equal(outcome.config.database.client, 'sqlite');
    assert.ok(outcome.config.database.filename.startsWith(outcome.sandbox.dir));
    const status = formatDemoSummary(outcome).split('\n').map((l) => l.trim()).find((l) => l.endsWith(' status'))!;
    assert.match(status, /^env -u BX_DATABASE_CLIENT -u BX_DATABASE_URL -u BX_DB_PASSWORD -u BX_PAN_KEY npx bureau-exchange --config /);
    // `env -u … npx` runs the real npx, which finds this repository's bin from its folder
    const run = spawnSync('bash', ['-c', status], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 90_000, env: { ...process.env, ...deployment, BX_CONFIG: '' } });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Shipped/);
  });
});
