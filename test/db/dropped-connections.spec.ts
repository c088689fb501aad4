import { strict as assert } from 'node:assert';
import knexFactory, { type Knex } from 'knex';
import { openDatabase, type Db, type Dialect } from '../../src/db/connection.js';
import { leaseHolder } from '../../src/db/lease.js';
import { makeRunnerLease } from '../../src/lease/runner-lease.js';
import { silentLogger } from '../../src/log.js';
import { DIALECTS, describeEachDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

/** The server's id of the session a query (or transaction) of `db` runs on. */
async function sessionOf(db: Knex, dialect: Dialect): Promise<number> {
  const result = await db.raw(dialect === 'pg' ? 'select pg_backend_pid() as id' : 'select connection_id() as id');
  return Number(dialect === 'pg' ? result.rows[0].id : result[0][0].id);
}

/** The sessions of this database, other than the asking one's. */
async function sessionsOf(admin: Knex, dialect: Dialect): Promise<number[]> {
  const result = dialect === 'pg'
    ? await admin.raw('select pid as id from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()')
    : await admin.raw('select id from information_schema.processlist where db = database() and id <> connection_id()');
  return (dialect === 'pg' ? result.rows : result[0]).map((r: { id: unknown }) => Number(r.id));
}

/** Ends a session of the server as an administrator does (PostgreSQL pg_terminate_backend, MariaDB KILL), and waits until it is gone. */
async function killSession(admin: Knex, dialect: Dialect, id: number): Promise<void> {
  await admin.raw(dialect === 'pg' ? 'select pg_terminate_backend(?)' : 'kill ?', [id]);
  await waitFor(`session ${id} gone`, async () => !(await sessionsOf(admin, dialect)).includes(id));
}

// The server ends our connections under the jobs: an administrator's kill, a restart, MariaDB's
// wait_timeout. The pool must drop the dead connection and the next transaction work on a new one.
describeEachDatabase('connections the server ends', (ctx) => {
  let db: Db;
  let admin: Knex;
  beforeEach(() => {
    const test: TestDatabase = ctx();
    db = openDatabase({ database: { ...test.database, pool: { min: 0, max: 2 } } });
    // a connection of the test's own issues the kills
    admin = knexFactory({ client: test.dialect === 'pg' ? 'pg' : 'mysql2', connection: test.dialect === 'pg' ? test.database.url! : { uri: test.database.url! } as any, pool: { min: 0, max: 1 } });
  });
  afterEach(async () => {
    await db.destroy();
    await admin.destroy();
    await ctx().db('leases').delete();
  });

  it('an idle pooled connection killed: the next query and transaction run on a new one', async () => {
    const { dialect } = ctx();
    const first = await sessionOf(db, dialect);
    await killSession(admin, dialect, first);
    const next = await sessionOf(db, dialect);
    assert.notEqual(next, first);
    assert.equal(await db.transaction(async (trx) => sessionOf(trx, dialect)), next, 'the new connection is pooled and reused');
  });

  it('a connection killed mid-transaction: that transaction fails and writes nothing, the next one commits', async () => {
    const { dialect } = ctx();
    await assert.rejects(db.transaction(async (trx) => {
      await trx('leases').insert({ name: 'killed', owner: 'a', expires_at: 0, acquired_at: 'n' });
      await killSession(admin, dialect, await sessionOf(trx, dialect));
      await trx('leases').insert({ name: 'killed-2', owner: 'a', expires_at: 0, acquired_at: 'n' });
    }));
    assert.deepEqual(await db('leases').select('name'), [], 'nothing of the killed transaction committed');
    await db.transaction(async (trx) => {
      await trx('leases').insert({ name: 'after', owner: 'a', expires_at: 0, acquired_at: 'n' });
    });
    assert.deepEqual((await db('leases').select('name')).map((r: { name: string }) => r.name), ['after']);
  });

  it('every session of ours killed at once (a restart) while the runner lease is held: it stays held, renewed on new connections', async function () {
    this.timeout(60_000);
    const { dialect } = ctx();
    const events: string[] = [];
    const keeper = makeRunnerLease({
      db, owner: 'a', ttlMs: 3_000, intervalMs: 200, log: silentLogger,
      onAcquired: async () => { events.push('acquired'); },
      onLost: async (reason) => { events.push(`lost: ${reason}`); },
    });
    try {
      keeper.start();
      await waitFor('a active', () => keeper.held());
      for (let round = 0; round < 3; round++) {
        const before = Number((await leaseHolder(ctx().db, 'daemon'))!.expires_at);
        for (const id of await sessionsOf(admin, dialect)) if (id !== (await sessionOf(ctx().db, dialect))) await killSession(admin, dialect, id).catch(() => undefined);
        await waitFor('a renewal after the kill', async () => Number((await leaseHolder(ctx().db, 'daemon'))!.expires_at) > before);
      }
      assert.equal(keeper.held(), true);
      assert.deepEqual(events, ['acquired']);
    } finally {
      await keeper.stop();
    }
  });
}, DIALECTS.filter((d) => d !== 'sqlite'));

// MariaDB closes a connection idle longer than wait_timeout (8 hours by default, often lowered by
// the DBA): a pooled connection that outlived it must not fail the next run.
describeEachDatabase('a pooled connection MariaDB closed after wait_timeout', (ctx) => {
  it('the next query runs on a new connection', async function () {
    this.timeout(30_000);
    const db = openDatabase({ database: { ...ctx().database, pool: { min: 0, max: 1 } } });
    try {
      // the pool's only connection is the one told to time out (the server's setting would reach other clients)
      const first = await sessionOf(db, 'mysql');
      await db.raw('set session wait_timeout = 1');
      await waitFor('the server to close it', async () => !(await sessionsOf(ctx().db, 'mysql')).includes(first));
      const next = await sessionOf(db, 'mysql');
      assert.notEqual(next, first);
      await db.transaction(async (trx) => {
        await trx('leases').insert({ name: 'after-wait-timeout', owner: 'a', expires_at: 0, acquired_at: 'n' });
      });
      assert.equal((await ctx().db('leases').where({ name: 'after-wait-timeout' }).first())?.owner, 'a');
    } finally {
      await db.destroy();
      await ctx().db('leases').delete();
    }
  });
}, DIALECTS.filter((d) => d === 'mysql'));
