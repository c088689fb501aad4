import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importContracts } from '../../src/contracts/import.js';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { newPanKey } from '../helpers/db.js';

// The daemon and a CLI command (contracts import, keys rotate-pan, receive by hand) are two processes
// on one SQLite file in WAL mode. A transaction that reads and then writes must not fail because the
// other process committed a write in between (the daemon notes its presence every few seconds).
describe('SQLite: a transaction while another process writes the same file', () => {
  let dir: string;
  let db: Db;
  let daemonDb: Db;
  /** the daemon's connection (better-sqlite3), as openDatabase makes it */
  let daemon: { pragma(sql: string): unknown; prepare(sql: string): { run(...values: unknown[]): unknown } };
  const presence = (runner: string) =>
    daemon.prepare(`insert into runner_presence (runner, role, started_at, seen_at) values (?, 'active', 'n', 'n')`).run(runner);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bx-sqlite-two-'));
    const database = { client: 'sqlite' as const, filename: join(dir, 'bx.sqlite'), passwordEnv: 'BX_DB_PASSWORD', pool: { min: 0, max: 5 }, migrateOnStart: true };
    db = openDatabase({ database });
    await migrateLatest(db);
    daemonDb = openDatabase({ database });
    // the other process's connection: it cannot wait here (one thread), so it tries, and tries again after
    daemon = await daemonDb.client.acquireConnection();
    daemon.pragma('busy_timeout = 0');
  });

  afterEach(async () => {
    await daemonDb.client.releaseConnection(daemon);
    await daemonDb.destroy();
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('contracts import goes on when the daemon writes between its read of a card and its write: the daemon waits for its commit', async () => {
    const file = join(dir, 'cards.jsonl');
    writeFileSync(file, [1, 2].map((n) => JSON.stringify(makeCard(n))).join('\n'));
    const waited: string[] = [];
    let wrote = false;
    db.on('query-response', (_response: unknown, query: { sql: string }) => {
      if (wrote || !/from `card_contracts`/.test(query.sql)) return;
      wrote = true;
      try {
        presence('daemon-1');
      } catch (err) {
        waited.push((err as { code?: string }).code ?? String(err));
      }
    });
    const result = await importContracts(db, file, new PanCipher(newPanKey()), silentLogger);
    assert.deepEqual([result.inserted, result.updated, result.skipped], [2, 0, []]);
    assert.ok(wrote, 'the daemon wrote while the import\'s transaction was open');
    // the import holds the write lock from its first statement: the daemon's write waits for its commit
    assert.deepEqual(waited, ['SQLITE_BUSY']);
    presence('daemon-1');
    assert.equal(Number((await db('runner_presence').count({ n: '*' }))[0]!.n), 1);
    assert.equal(Number((await db('card_contracts').count({ n: '*' }))[0]!.n), 2);
  });

  it('a transaction that only reads does not take the write lock: the other process writes meanwhile', async () => {
    await db.transaction(async (trx) => {
      await trx('runner_presence').select('runner');
      presence('daemon-2');
      assert.deepEqual(await trx('runner_presence').select('runner'), [], 'its snapshot is the one it began with');
    }, { readOnly: true });
    assert.deepEqual(await db('runner_presence').select('runner'), [{ runner: 'daemon-2' }]);
  });
});
