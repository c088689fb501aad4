import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

describe('CLI as a new user tries it', function () {
  this.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'bx-cli-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n`);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  const samples = join(PROJECT_ROOT, 'samples', 'contracts.jsonl');

  it('--help lists the commands, exit 0', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const cmd of ['migrate', 'contracts', 'status']) assert.match(r.stdout, new RegExp(`\\b${cmd}\\b`));
  });

  it('an unknown option is a usage error, exit 2', async () => {
    const r = await runCli(['status', '--bogus'], env);
    assert.equal(r.code, 2);
  });

  it('a config error is one clear line, exit 2, no stack trace', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'issuer: { code: "lower case" }\nbureau: { code: B }\n');
    const r = await runCli(['--config', bad, 'status'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /issuer\.code/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  it('refuses to start without the PAN key', async () => {
    const r = await runCli(['--config', config, 'status'], { BX_PAN_KEY: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /BX_PAN_KEY/);
  });

  it('migrate, import the samples, list with masked PANs, status', async () => {
    assert.equal((await runCli(['--config', config, 'migrate'], env)).code, 0);
    const imported = await runCli(['--config', config, 'contracts', 'import', samples], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /9 inserted, 0 updated, 0 skipped/);

    const list = await runCli(['--config', config, 'contracts', 'list'], env);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /411111\*{6}0011/);
    assert.doesNotMatch(list.stdout, /\d{13,19}/, 'no full PAN in the table');
    const json = await runCli(['--config', config, 'contracts', 'list', '--json', '--status', 'Marked'], env);
    const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 9);
    assert.ok(rows.every((r) => /^\d{6}\*+\d{4}$/.test(r.pan)));

    const status = await runCli(['--config', config, 'status', '--json'], env);
    assert.equal(status.code, 0);
    assert.equal(JSON.parse(status.stdout).contracts.Marked, 9);
  });

  it('lists cards whose PAN is under a key no longer configured, naming the key, instead of failing the listing', async () => {
    const otherKey = { BX_PAN_KEY: newPanKey().toString('base64') };
    const list = await runCli(['--config', config, 'contracts', 'list', '--json'], otherKey);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 9);
    assert.ok(rows.every((r) => /^\(unreadable: under key \w{8}, not configured\)$/.test(r.pan)), list.stdout);
    const story = await runCli(['--config', config, 'contracts', 'show', rows[0].contract], otherKey);
    assert.equal(story.code, 0, story.stderr);
    assert.match(story.stdout, /unreadable: under key \w{8}, not configured/);
  });
});
