import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory from 'knex';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

const BIN = join(PROJECT_ROOT, 'bin', 'bureau-exchange.js');

/** `bureau-exchange ARGS | head -n 1` in bash: the CLI's exit code (PIPESTATUS) and what it wrote to stderr. */
function pipedToHead(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const script = '"$0" "$@" | head -n 1; echo "cli exit ${PIPESTATUS[0]}" >&3';
    const child = spawn('bash', ['-c', script, process.execPath, BIN, ...args], {
      env: { ...process.env, BX_CONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let status = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdio[3]!.on('data', (d) => (status += d));
    child.on('error', reject);
    child.on('close', () => resolve({ code: Number(/cli exit (\d+)/.exec(status)?.[1] ?? -1), stdout, stderr }));
  });
}

function configIn(dir: string, extra = ''): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(file, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n${extra}`);
  return file;
}

describe('CLI as an operator uses it', function () {
  this.timeout(120_000);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  const fresh = () => mkdtempSync(join(tmpdir(), 'bx-op-'));

  describe('output and options', () => {
    it('a reader that stops early (| head) ends the command quietly with 0', async () => {
      const config = configIn(fresh());
      // far more than a pipe buffer, so that the writes go on after head has exited
      const r = await pipedToHead(['--config', config, 'calendar', '--days', '3660'], env);
      assert.equal(r.stdout, 'No public holidays are configured (calendar.holidays): every working weekday is a business day, 25 December included.\n');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'no EPIPE, no stack trace');
    });

    it('--version prints the version of package.json', async () => {
      const r = await runCli(['--version']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')).version);
    });

    it('a wrong --log-level or --limit is a usage error, exit 2, naming the option', async () => {
      const config = configIn(fresh());
      const level = await runCli(['--config', config, '--log-level', 'bogus', 'calendar'], env);
      assert.equal(level.code, 2);
      assert.match(level.stderr, /--log-level.*bogus/);
      for (const limit of ['abc', '0']) {
        const r = await runCli(['--config', config, 'contracts', 'list', '--limit', limit], env);
        assert.equal(r.code, 2, `--limit ${limit}: ${r.stderr}`);
        assert.match(r.stderr, /--limit: a whole number/);
        assert.equal(r.stdout, '');
      }
    });
  });

  describe('read-only commands never create or migrate a database', () => {
    it('status with a mistyped workDir fails naming the database and `migrate`, and creates nothing', async () => {
      const dir = fresh();
      const config = configIn(dir);
      for (const args of [['status'], ['contracts', 'list']]) {
        const r = await runCli(['--config', config, ...args], env);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stderr, new RegExp(`database ${dir}/var/bureau-exchange\\.sqlite does not exist.*run \`bureau-exchange migrate\``));
        assert.doesNotMatch(r.stderr, /\n\s+at /);
        assert.equal(existsSync(join(dir, 'var')), false, `${args.join(' ')} created the work folder`);
      }
    });

    it('a database that exists but is not migrated is refused, and left unmigrated', async () => {
      const dir = fresh();
      const config = configIn(dir, 'database: { filename: empty.sqlite }\n');
      const file = join(dir, 'var', 'empty.sqlite');
      mkdirSync(join(dir, 'var'));
      const db = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
      await db.raw('create table unrelated (x integer)');
      try {
        const r = await runCli(['--config', config, 'status'], env);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        // every migration of the folder is pending: counted there, so that a new migration does not break this test
        const migrations = readdirSync(join(PROJECT_ROOT, 'migrations')).filter((f) => /^\d{3}_\w+\.ts$/.test(f)).length;
        assert.match(r.stderr, new RegExp(`empty\\.sqlite is not migrated \\(${migrations} migration\\(s\\) pending: 001_initial, .*bureau-exchange migrate`));
        assert.equal(await db.schema.hasTable('knex_migrations'), false, 'status wrote the migration history');
      } finally {
        await db.destroy();
      }
    });
  });

  describe('configuration', () => {
    it('a mistyped time zone fails at load for every command, naming the key', async () => {
      const config = configIn(fresh(), 'schedule: { timezone: Europe/Berln }\n');
      for (const args of [['status'], ['calendar']]) {
        const r = await runCli(['--config', config, ...args], env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /schedule\.timezone: unknown time zone "Europe\/Berln"/);
      }
    });

    it('an unknown holiday country fails at load, naming the key', async () => {
      const r = await runCli(['--config', configIn(fresh(), 'calendar: { holidays: XX }\n'), 'status'], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /calendar\.holidays: unknown country code "XX"/);
    });

    it('.env: `export KEY=…` and a comment after the value both work; the real environment wins', async () => {
      const key = newPanKey().toString('base64');
      for (const line of [`export BX_PAN_KEY=${key}`, `BX_PAN_KEY=${key}   # prod key`, `BX_PAN_KEY="${key}"`]) {
        const dir = fresh();
        const config = configIn(dir);
        writeFileSync(join(dir, '.env'), `# secrets\n${line}\n`, { mode: 0o600 });
        const r = await runCli(['--config', config, 'migrate'], { BX_PAN_KEY: undefined });
        assert.equal(r.code, 0, `${line}: ${r.stderr}`);
      }
      const dir = fresh();
      writeFileSync(join(dir, '.env'), 'BX_PAN_KEY=not-a-key\n', { mode: 0o600 });
      const r = await runCli(['--config', configIn(dir), 'migrate'], env);
      assert.equal(r.code, 0, `the environment's key is used, not the .env one: ${r.stderr}`);
    });

    it('a key with a trailing comment from an env file that keeps it is refused with a hint', async () => {
      const r = await runCli(['--config', configIn(fresh()), 'migrate'], { BX_PAN_KEY: `${newPanKey().toString('base64')}   # prod key` });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /BX_PAN_KEY must be exactly 32 bytes.*put a comment on a line of its own/);
    });
  });

  describe('first steps, status, calendar, migrate --down', () => {
    const dir = fresh();
    const config = configIn(dir);
    const file = join(dir, 'var', 'bureau-exchange.sqlite');

    before(async () => {
      assert.equal((await runCli(['--config', config, 'migrate'], env)).code, 0);
    });

    it('the README sample imports cleanly (exit 0)', async () => {
      const r = await runCli(['--config', config, 'contracts', 'import', join(PROJECT_ROOT, 'samples', 'contracts.jsonl')], env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /9 inserted, 0 updated, 0 skipped/);
    });

    it('a bad import line is reported once', async () => {
      const bad = join(dir, 'bad.jsonl');
      writeFileSync(bad, '{"contractId":"00000000000101X","plasticId":"000000005010","pan":"4111111111111111","expiry":"2911","lastName":"Bad","productCode":"CLASSIC01"}\n');
      const r = await runCli(['--config', config, 'contracts', 'import', bad], env);
      assert.equal(r.code, 3);
      assert.equal((r.stdout + r.stderr).match(/line 1\b/g)?.length, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /line 1: field contractId/);
    });

    it('status separates shipped cards from cards only expected to ship, and shows how to requeue a quarantined report', async () => {
      const db = knexFactory({ client: 'better-sqlite3', connection: { filename: file }, useNullAsDefault: true });
      try {
        const ids: number[] = (await db('card_contracts').orderBy('id').select('id')).map((r) => r.id);
        await db('card_contracts').whereIn('id', ids.slice(0, 2)).update({ production_status: 'Shipped', expected_ship_date: '2026-12-01', ship_date: '2026-12-02' });
        await db('card_contracts').whereIn('id', ids.slice(2, 5)).update({ production_status: 'Shipped', expected_ship_date: '2026-12-07' });
        await db('card_contracts').where('id', ids[5]).update({ production_status: 'Shipped', expected_ship_date: '2026-12-09' });
        const now = new Date().toISOString();
        await db('bureau_reports').insert({
          remote_name: 'BXISSUER_REPORT_20261201_000001.xml.rsa', sha256: 'a'.repeat(64), kind: 'rsa', state: 'quarantined',
          error: 'decryption failed', created_at: now, updated_at: now,
        });
      } finally {
        await db.destroy();
      }
      const r = await runCli(['--config', config, 'status'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nShipped +2 +the bureau reported the ship date\n/);
      assert.match(r.stdout, /\nExpected +4 +status Shipped, not shipped yet: expected 2026-12-07 to 2026-12-09\n/);
      assert.match(r.stdout, /Quarantined reports\nid +file[^\n]*\n1 +BXISSUER_REPORT_20261201_000001\.xml\.rsa +decryption failed/);
      assert.ok(r.stdout.includes(`bureau-exchange --config ${config} receive --requeue 1`), r.stdout);
      // a config in a folder with a space and a $: the command to copy is still one word (the page's too: same shellWord)
      const spaced = join(dir, 'my $configs');
      mkdirSync(spaced);
      const quoted = join(spaced, 'config.yaml');
      writeFileSync(quoted, readFileSync(config));
      const q = await runCli(['--config', quoted, 'status'], env);
      assert.ok(q.stdout.includes(`bureau-exchange --config '${quoted}' receive --requeue 1`), q.stdout);
      const json = JSON.parse((await runCli(['--config', config, 'status', '--json'], env)).stdout);
      assert.deepEqual(json.shipments, { shipped: 2, expected: 4, expectedFrom: '2026-12-07', expectedTo: '2026-12-09' });
      assert.equal(json.quarantined[0].id, 1);
    });

    it('calendar says when no holidays are configured, and not when they are', async () => {
      const none = await runCli(['--config', config, 'calendar', '--from', '2026-12-24', '--days', '2'], env);
      assert.match(none.stdout, /^No public holidays are configured \(calendar\.holidays\)/);
      assert.match(none.stdout, /2026-12-25 +Friday +yes/);
      const json = await runCli(['--config', config, 'calendar', '--from', '2026-12-24', '--days', '2', '--json'], env);
      assert.equal(JSON.parse(json.stdout).length, 2, 'the notice goes to stderr with --json');
      assert.match(json.stderr, /No public holidays are configured/);
      const de = await runCli(['--config', configIn(fresh(), 'calendar: { holidays: DE }\n'), 'calendar', '--from', '2026-12-24', '--days', '2'], env);
      assert.doesNotMatch(de.stdout + de.stderr, /No public holidays/);
      assert.match(de.stdout, /2026-12-25 +Friday +no +holiday: Christmas Day/);
    });

    it('migrate --down refuses without --yes (not a terminal), exit 2, and drops nothing', async () => {
      const r = await runCli(['--config', config, 'migrate', '--down'], env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /drops every table of .*bureau-exchange\.sqlite.*add --yes/);
      assert.equal((await runCli(['--config', config, 'status'], env)).code, 0, 'still migrated');
      const yes = await runCli(['--config', config, 'migrate', '--down', '--yes'], env);
      assert.equal(yes.code, 0, yes.stderr);
      const after = await runCli(['--config', config, 'status'], env);
      assert.equal(after.code, 2);
      assert.match(after.stderr, /is not migrated/);
    });
  });

  it('run-once --json: stdout is the JSON alone, logs go to stderr with level labels', async () => {
    const dir = fresh();
    const config = configIn(dir, 'sftp: { host: 127.0.0.1, port: 1, username: bx, retry: { attempts: 1 } }\n');
    const r = await runCli(['--config', config, 'run-once', '--receive-only', '--json'], env);
    assert.equal(r.code, 1, r.stderr);
    const outcome = JSON.parse(r.stdout);
    assert.match(outcome.receive.error, /127\.0\.0\.1:1/);
    const logs = r.stderr.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(logs.some((l) => l.level === 'error'), r.stderr);
    assert.ok(logs.every((l) => typeof l.level === 'string'));
  });
});
