import { strict as assert } from 'node:assert';
import { databaseLabelOf } from '../../src/db/connection.js';
import { migrateDownAll, migrateLatest, pendingMigrations, unappliedMigrations } from '../../src/db/migrate.js';
import { ConfigError } from '../../src/errors.js';
import { describeEachDatabase } from '../helpers/db.js';

const FUTURE = ['012_from_a_newer_version', '013_also_newer'];

// A database that a newer version of bureau-exchange migrated: this version's queries were written for
// the schema it knows. knex said "The migration directory is corrupt, the following files are missing",
// and the read-only commands (which list what is missing only) ran against it.
describeEachDatabase('a database migrated by a newer version', (ctx) => {
  beforeEach(async () => {
    const { db } = ctx();
    await db('knex_migrations').insert(FUTURE.map((name) => ({ name, batch: 99, migration_time: new Date() })));
  });
  afterEach(async () => {
    await ctx().db('knex_migrations').whereIn('name', FUTURE).delete();
  });

  const refusal = (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.ok(err.message.startsWith(`database ${databaseLabelOf(ctx().db)} was migrated by a newer version of bureau-exchange `), err.message);
    assert.match(err.message, /migrations 012_from_a_newer_version, 013_also_newer unknown to this one, whose last is 0\d\d_/);
    return true;
  };

  it('is refused by migrate, migrate --down and the read-only check, naming the unknown migrations, and left as it was', async () => {
    const { db } = ctx();
    const before = await db('knex_migrations').orderBy('id').select('name');
    await assert.rejects(migrateLatest(db), refusal);
    await assert.rejects(migrateDownAll(db), refusal);
    await assert.rejects(unappliedMigrations(db), refusal);
    await assert.rejects(pendingMigrations(db), refusal);
    assert.deepEqual(await db('knex_migrations').orderBy('id').select('name'), before);
    assert.ok(await db.schema.hasTable('card_contracts'), 'nothing undone');
    const lock = await db('knex_migrations_lock').select('is_locked');
    assert.deepEqual(lock.map((r: { is_locked: unknown }) => Number(r.is_locked)), [0], 'no lock left taken');
  });

  it('once the newer rows are gone (the same version again), migrates as before', async () => {
    const { db } = ctx();
    await db('knex_migrations').whereIn('name', FUTURE).delete();
    assert.deepEqual(await migrateLatest(db), []);
    assert.deepEqual(await unappliedMigrations(db), []);
  });
});
