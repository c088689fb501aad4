import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { openDatabase } from '../../src/db/connection.js';
import { migrateDownLast, migrateLatest, pendingMigrations } from '../../src/db/migrate.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const CHILD = fileURLToPath(new URL('./migrate-child.ts', import.meta.url));
const BEFORE_005 = 7;

// A migration that outlasts our sessions' lock wait (60 s, or the operator's lock_timeout: 005 on a
// large card table waiting for the card system's transactions) made a second migrator (a second
// daemon starting together) fail with "canceling statement due to lock timeout" at knex's lock row,
// and the daemon exit. It waits for the first migrator instead, then has nothing left to do.
describeEachDatabase('a migrator started while another migrates longer than the lock wait', (ctx) => {
  it('waits for it, then finds nothing to do', async function () {
    this.timeout(120_000);
    const { db, database } = ctx();
    for (let i = 0; i < BEFORE_005; i++) await migrateDownLast(db);
    // the first migrator stops at 005's card_contracts, which a transaction of the "card system" reads
    const holder = await db.transaction();
    await holder('card_contracts').first('id');
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, BX_TEST_DATABASE: JSON.stringify(database) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const url = new URL(database.url!);
    url.searchParams.set('options', '-c lock_timeout=1s'); // lock waits bounded to 1 s, standing for the 60 s of a real one
    const second = openDatabase({ database: { ...database, url: url.toString() } });
    try {
      await waitFor(`the first migrator waiting at card_contracts (${output})`, async () => (await waiting(db, /alter table "card_contracts"/i)) > 0, 60_000);
      let failed: unknown;
      const migrated = migrateLatest(second);
      migrated.catch((err) => { failed = err; });
      await waitFor('the second migrator waiting for the first', async () => {
        if (failed) throw failed;
        return (await waiting(db, /advisory_lock/i)) > 0;
      }, 60_000);
      await new Promise((r) => setTimeout(r, 1_500)); // longer than its lock wait
      await holder.rollback();
      assert.equal((await exited(child)).code, 0, output);
      assert.equal(JSON.parse(output).length, BEFORE_005, 'the first applied them');
      assert.deepEqual(await migrated, []);
      assert.deepEqual(await pendingMigrations(db), []);
    } finally {
      if (!holder.isCompleted()) await holder.rollback();
      await second.destroy();
      await migrateLatest(db);
    }
  });
}, ['pg']);

// MariaDB closes a session idle for wait_timeout (DBAs lower it from 8 hours): the migrators' named
// lock lives in a session of its own, idle while the migration runs. Closed under a long migration,
// it let a second migrator in, which took the first's knex lock for a dead migrator's and ran the same
// migrations at the same time.
describeEachDatabase('a migration that outlasts wait_timeout on MariaDB', (ctx) => {
  it('keeps the migrators\' lock: a second migrator waits for it, then finds nothing to do', async function () {
    this.timeout(120_000);
    const { db, database } = ctx();
    for (let i = 0; i < BEFORE_005; i++) await migrateDownLast(db);
    const holder = await db.transaction();
    await holder('card_contracts').first('id');
    const first = openDatabase({ database });
    // a server whose wait_timeout is 2 s, for the sessions `first` opens from now on (its lock's)
    const pool = (first.client.config as { pool: { afterCreate(conn: any, done: (err: Error | null, conn: unknown) => void): void } }).pool;
    const afterCreate = pool.afterCreate;
    pool.afterCreate = (conn, done) => afterCreate(conn, (err, c) => (err ? done(err, c) : conn.query('set session wait_timeout = 2', (e: Error | null) => done(e, c))));
    const second = openDatabase({ database });
    try {
      let failed: unknown;
      const firstDone = migrateLatest(first);
      firstDone.catch((err) => { failed = err; });
      await waitFor('the first migrator waiting at card_contracts', async () => {
        if (failed) throw failed;
        return (await mysqlWaiting(db, /^alter table `card_contracts`/i)) > 0;
      }, 60_000);
      await new Promise((r) => setTimeout(r, 3_000)); // its lock's session idle longer than wait_timeout
      const secondDone = migrateLatest(second);
      secondDone.catch((err) => { failed = err; });
      await waitFor('the second migrator waiting for the first', async () => {
        if (failed) throw failed;
        return (await mysqlWaiting(db, /get_lock/i)) > 0;
      }, 30_000);
      await holder.rollback();
      assert.equal((await firstDone).length, BEFORE_005);
      assert.deepEqual(await secondDone, []);
      assert.deepEqual(await pendingMigrations(db), []);
    } finally {
      if (!holder.isCompleted()) await holder.rollback();
      await first.destroy();
      await second.destroy();
      await migrateLatest(db);
    }
  });
}, ['mysql']);

/** How many sessions of this database wait for a lock in a statement matching `sql` (MariaDB). */
async function mysqlWaiting(db: Knex, sql: RegExp): Promise<number> {
  const [rows] = await db.raw(`select info, state from information_schema.processlist where db = database() and id <> connection_id()`);
  return (rows as Array<{ info: string | null; state: string }>).filter((r) => r.info !== null && sql.test(r.info) && /lock/i.test(r.state)).length;
}

/** How many sessions of this database wait for a lock in a statement matching `sql`. */
async function waiting(db: Knex, sql: RegExp): Promise<number> {
  const { rows } = await db.raw(`select query from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`);
  return (rows as Array<{ query: string }>).filter((r) => sql.test(r.query)).length;
}

function exited(child: ChildProcess): Promise<{ code: number | null }> {
  if (child.exitCode !== null) return Promise.resolve({ code: child.exitCode });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code })));
}
