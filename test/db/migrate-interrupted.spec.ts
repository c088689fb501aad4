import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { migrateDownLast, migrateLatest, pendingMigrations } from '../../src/db/migrate.js';
import { createTestDatabase, describeEachDatabase, type TestDatabase } from '../helpers/db.js';

const CHILD = fileURLToPath(new URL('./migrate-child.ts', import.meta.url));
const BEFORE_005 = 7; // migrations 011 … 005 rolled back: the database of a release before several bureaus

// MariaDB commits each DDL statement on its own: a `migrate` killed half-way leaves part of a
// migration done and knex's lock taken. The daemon (migrateOnStart) or `migrate` run again must finish
// the job, and one started while another runs must wait for it.
describeEachDatabase('migrate on MariaDB, interrupted or run twice at once', (ctx) => {
  let fresh: Awaited<ReturnType<typeof createTestDatabase>>;
  before(async () => { fresh = await createTestDatabase('mysql'); });
  after(async () => fresh?.drop());

  beforeEach(async () => {
    const { db } = ctx();
    await migrateLatest(db);
    for (let i = 0; i < BEFORE_005; i++) await migrateDownLast(db);
    await db('perso_batches').delete();
    await db('perso_batches').insert({ business_date: '2026-11-26', sequence: 1, file_name: 'F1', state: 'sent', created_at: 'n', updated_at: 'n' });
  });

  it('a migrate killed after the first statement of 005: run again, it finishes every migration, the schema as a fresh one\'s', async () => {
    const { db } = ctx();
    const child = await migrateStuckAtCardContracts(ctx());
    child.process.kill('SIGKILL');
    await exited(child.process);
    await db.raw('kill ?', [child.session]); // its statement, still waiting in the server, dies with it
    await child.release();
    assert.deepEqual(await columnsOf(db, 'perso_batches', 'bureau_code'), ['bureau_code'], '005\'s first statement stays done');
    const applied = await migrateLatest(db);
    assert.equal(applied.length, BEFORE_005);
    assert.deepEqual(await pendingMigrations(db), []);
    assert.deepEqual(await schemaOf(db), await schemaOf(fresh.db));
    assert.equal((await db('perso_batches').first('file_name')).file_name, 'F1');
  });

  it('a migrate started while another runs waits for it, then has nothing left to do', async () => {
    const { db } = ctx();
    const child = await migrateStuckAtCardContracts(ctx());
    let failed: unknown;
    const second = migrateLatest(db);
    second.catch((err) => { failed = err; });
    try {
      await until(db, 'a second migrator waiting for the first', async () => {
        if (failed) throw failed;
        return (await waiting(db, /get_lock/i)) !== undefined;
      });
    } finally {
      await child.release();
    }
    const output = await exited(child.process);
    assert.equal(output.code, 0, output.text);
    assert.equal(JSON.parse(output.text).length, BEFORE_005, 'the first applied them');
    assert.deepEqual(await second, []);
    assert.deepEqual(await schemaOf(db), await schemaOf(fresh.db));
  });
}, ['mysql']);

/**
 * Starts `migrate` in a child process, while a transaction of ours holds card_contracts: the child
 * makes 005's first statement (perso_batches) and waits at its second (card_contracts) until release().
 */
async function migrateStuckAtCardContracts(test: TestDatabase): Promise<{ process: ChildProcess; session: number; release(): Promise<void> }> {
  const holder = await test.db.transaction();
  await holder('card_contracts').first('id');
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, BX_TEST_DATABASE: JSON.stringify(test.database) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  (child as ChildProcess & { text: () => string }).text = () => text;
  let session: number | undefined;
  await until(test.db, `the child's alter table card_contracts waiting (child output: ${text})`, async () => {
    session = await waiting(test.db, /^alter table `card_contracts`/i);
    return session !== undefined || child.exitCode !== null;
  });
  if (session === undefined) throw new Error(`the child ended before its migration waited: ${text}`);
  return { process: child, session, release: () => holder.rollback().then(() => undefined) };
}

/** The server session whose statement matches `sql` and waits for a lock. */
async function waiting(db: Knex, sql: RegExp): Promise<number | undefined> {
  const [rows] = await db.raw(`select id, info, state from information_schema.processlist where db = database() and id <> connection_id()`);
  const row = (rows as Array<{ id: number; info: string | null; state: string }>).find((r) => r.info !== null && sql.test(r.info) && /lock/i.test(r.state));
  return row === undefined ? undefined : Number(row.id);
}

/** Polls a state of the database until it holds (a minute at most). */
async function until(db: Knex, what: string, holds: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 60_000;
  while (!(await holds())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await db.raw('select 1'); // one round trip between looks
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; text: string }> {
  const text = () => (child as ChildProcess & { text: () => string }).text();
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, text: text() });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, text: text() })));
}

async function columnsOf(db: Knex, table: string, column: string): Promise<string[]> {
  const [rows] = await db.raw(`select column_name as c from information_schema.columns where table_schema = database() and table_name = ? and column_name = ?`, [table, column]);
  return (rows as Array<{ c: string }>).map((r) => r.c);
}

/** Every table's columns, indexes and foreign keys, from the catalogue. */
async function schemaOf(db: Knex): Promise<unknown> {
  const [columns] = await db.raw(`select table_name t, column_name c, column_type y, is_nullable n, column_key k from information_schema.columns
    where table_schema = database() order by table_name, ordinal_position`);
  const [indexes] = await db.raw(`select table_name t, index_name i, non_unique u, seq_in_index s, column_name c from information_schema.statistics
    where table_schema = database() order by table_name, index_name, seq_in_index`);
  const [keys] = await db.raw(`select table_name t, constraint_name k, referenced_table_name r from information_schema.referential_constraints
    where constraint_schema = database() order by table_name, constraint_name`);
  const [lock] = await db.raw('select is_locked from knex_migrations_lock');
  return { columns, indexes, keys, lock };
}
