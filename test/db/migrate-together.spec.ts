import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { migrateDownAll, pendingMigrations } from '../../src/db/migrate.js';
import { describeEachDatabase, type TestDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const CHILD = fileURLToPath(new URL('./migrate-child.ts', import.meta.url));

// Two daemons (or a daemon and `migrate`) starting together on a new or older database: each
// migrates. One applies the migrations, the other waits for it and has nothing left to do; never
// a migration applied twice or a schema left half-made.
describeEachDatabase('two processes migrating at once', (ctx) => {
  for (const fresh of [false, true]) {
  it(`${fresh ? 'a new database' : 'an older database'}: both succeed, every migration applied once, nothing pending`, async function () {
    this.timeout(120_000);
    const { db, dialect } = ctx();
    const all = await migrateDownAll(db);
    if (fresh) for (const table of ['knex_migrations', 'knex_migrations_lock']) await db.schema.dropTable(table);
    // PostgreSQL: both made to wait at knex's lock table, then let go together (a real race)
    const gate = dialect === 'pg' && !fresh ? await db.transaction() : undefined;
    await gate?.raw('lock table knex_migrations_lock in access exclusive mode');
    const children = [migrateInChild(ctx()), migrateInChild(ctx())];
    if (gate) {
      await waitFor('both migrators waiting for the lock', async () => {
        const { rows } = await db.raw(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
        return rows[0].n >= 2;
      }, 60_000);
      await gate.commit();
    }
    const results = await Promise.all(children);
    for (const r of results) assert.equal(r.code, 0, r.output);
    const applied = results.flatMap((r) => JSON.parse(r.output) as string[]);
    assert.deepEqual([...applied].sort(), [...all].sort(), 'each migration applied by one of them');
    const rows = await db('knex_migrations').select('name');
    assert.equal(rows.length, all.length, 'one history row each');
    assert.deepEqual(await pendingMigrations(db), []);
    assert.deepEqual((await db('knex_migrations_lock').select('is_locked')).map((r: { is_locked: unknown }) => Number(r.is_locked)), [0]);
  });
  }
});

function migrateInChild(test: TestDatabase): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, BX_TEST_DATABASE: JSON.stringify(test.database) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (errors += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output: code === 0 ? output : output + errors })));
}
