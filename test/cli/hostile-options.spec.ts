import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

/** Option values an operator mistypes (or a script builds wrong): each is a usage error naming the option, before anything runs. */
describe('CLI: hostile option values', function () {
  this.timeout(120_000);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  let dir: string;
  let config: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bx-opts-'));
    config = join(dir, 'config.yaml');
    writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n`);
    const migrated = await runCli(['--config', config, 'migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('send --business-date a day that does not exist (30 February) is refused naming the option, as run-once refuses it', async () => {
    for (const date of ['2026-02-30', '2025-02-29']) {
      for (const command of [['send', '--dry-run'], ['send'], ['run-once', '--send-only']]) {
        const r = await runCli(['--config', config, ...command, '--business-date', date], env);
        assert.equal(r.code, 2, `${command.join(' ')} --business-date ${date}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, new RegExp(`--business-date: "${date}" is not a date YYYY-MM-DD`), `${command.join(' ')} ${date}`);
        assert.equal(r.stdout, '', 'no file is shown for a day that does not exist');
      }
    }
  });

  it('history --since a time on a day that does not exist is refused, not read as a day of the next month', async () => {
    for (const since of ['2026-02-31T10:00', '2026-06-31T23:59:59+02:00']) {
      const r = await runCli(['--config', config, 'history', '--since', since, '--json'], env);
      assert.equal(r.code, 2, `--since ${since}: ${r.stdout}`);
      assert.match(r.stderr, /--since: .* is neither a date YYYY-MM-DD nor an ISO 8601 time/);
      assert.equal(r.stdout, '');
    }
    const good = await runCli(['--config', config, 'history', '--since', '2024-02-29T10:00', '--json'], env);
    assert.equal(good.code, 0, good.stderr);
    assert.deepEqual(JSON.parse(good.stdout), []);
  });

  it('receive --requeue an id no report can have is refused naming the option, before any server is reached', async () => {
    for (const id of ['0', '99999999999', '2147483648', '-1', '1e3']) {
      const r = await runCli(['--config', config, 'receive', '--requeue', id], env);
      assert.equal(r.code, 2, `--requeue ${id}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--requeue: "${id}" is neither a report id \\(1 to 2147483647\\) nor "all"`));
    }
  });

  it('calendar --days takes a whole number as every other count does (not 0x10, 1e3 or 3.0), and never runs past year 9999', async () => {
    for (const days of ['0x10', '1e3', '3.0', '3661']) {
      const r = await runCli(['--config', config, 'calendar', '--days', days], env);
      assert.equal(r.code, 2, `--days ${JSON.stringify(days)}: ${r.stdout}`);
      assert.match(r.stderr, /--days: a whole number from 1 to 3,660/);
    }
    const late = await runCli(['--config', config, 'calendar', '--from', '9999-12-25', '--days', '10'], env);
    assert.equal(late.code, 2, late.stdout);
    assert.match(late.stderr, /--from 9999-12-25 --days 10: past 9999-12-31/);
    const last = await runCli(['--config', config, 'calendar', '--from', '9999-12-25', '--days', '7', '--json'], env);
    assert.equal(last.code, 0, last.stderr);
    assert.equal(JSON.parse(last.stdout).at(-1).date, '9999-12-31');
  });
});
