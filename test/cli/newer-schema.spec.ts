import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex from 'knex';
import { runCli } from '../helpers/cli.js';

/**
 * Commands that write, and the daemon, with database.migrateOnStart off: a database a newer version
 * migrated is refused before any write (they ran against it: only migrate and the reading commands
 * checked). And the daemon's first look at its database names it, as the commands' does.
 */
describe('CLI: write commands and the daemon refuse a schema a newer version made', function () {
  this.timeout(120_000);
  let dir: string;
  let config: string;
  let env: NodeJS.ProcessEnv;
  const withSqlite = async <T>(use: (db: knex.Knex) => Promise<T>): Promise<T> => {
    const db = knex({ client: 'better-sqlite3', connection: { filename: join(dir, 'var', 'bureau-exchange.sqlite') }, useNullAsDefault: true });
    try {
      return await use(db);
    } finally {
      await db.destroy();
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bx-newer-schema-'));
    const init = await runCli(['sandbox', 'init', dir]);
    assert.equal(init.code, 0, init.stderr);
    config = join(dir, 'config.yaml');
    const panKey = /^BX_PAN_KEY=(.*)$/m.exec(readFileSync(join(dir, '.env'), 'utf8'))![1]!;
    env = { BX_PAN_KEY: panKey };
    writeFileSync(config, readFileSync(config, 'utf8').replace('  filename: bureau-exchange.sqlite\n', '  filename: bureau-exchange.sqlite\n  migrateOnStart: false\n'));
    const migrated = await runCli(['--config', config, 'migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    await withSqlite((db) => db('knex_migrations').insert({ name: '012_from_a_newer_version', batch: 99, migration_time: new Date() }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const refused = (r: { code: number; stderr: string }, what: string) => {
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /was migrated by a newer version of bureau-exchange \(migration 012_from_a_newer_version unknown to this one/, what);
  };

  it('contracts import writes nothing and exits 2 naming the unknown migration', async () => {
    const cards = join(dir, 'cards.jsonl');
    writeFileSync(cards, readFileSync(join(process.cwd(), 'samples', 'contracts.jsonl'), 'utf8').split('\n')[0] + '\n');
    refused(await runCli(['--config', config, 'contracts', 'import', cards], env), 'contracts import');
    assert.deepEqual(await withSqlite((db) => db('card_contracts').count({ n: '*' })), [{ n: 0 }]);
  });

  it('send and the daemon exit 2 at start, naming it', async () => {
    refused(await runCli(['--config', config, 'send', '--force'], env), 'send');
    refused(await runCli(['--config', config, 'daemon'], env, 60_000), 'daemon');
  });

  it('the daemon, migrating at start, names a database that refuses the connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const pgConfig = join(dir, 'pg.yaml');
    writeFileSync(pgConfig, readFileSync(config, 'utf8').replace(/^database:\n(  .*\n)+/m, `database:\n  client: pg\n  url: "postgres://bx@127.0.0.1:${port}/bx"\n`));
    const r = await runCli(['--config', pgConfig, 'daemon'], env, 60_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`database postgres://bx@127\\.0\\.0\\.1:${port}/bx: .*ECONNREFUSED`));
  });
});
