import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { ConfigError } from '../../src/errors.js';
import { requireOrSkip } from '../helpers/ci.js';
import { databaseUnavailableReason, DIALECTS } from '../helpers/db.js';

const MYSQL_URL = process.env.BX_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

// A MariaDB database created without CHARACTER SET utf8mb4 (a server whose default is latin1 or
// utf8mb3) gave its tables that character set: a card named Łukasz, or an emoji in a report, then
// failed its whole import chunk or the report's apply, on every run. The first migrate refuses it.
(DIALECTS.includes('mysql') ? describe : describe.skip)('migrate on a new MariaDB database: not utf8mb4, or holding a table of our name', function () {
  let admin: Knex;
  const made: string[] = [];
  before(async function () {
    requireOrSkip(this, await databaseUnavailableReason('mysql'));
    admin = knexFactory({ client: 'mysql2', connection: { uri: MYSQL_URL } as any, pool: { min: 0, max: 1 } });
  });
  after(async () => {
    for (const name of made) await admin.raw(`drop database if exists ${name}`);
    await admin?.destroy();
  });

  async function database(charset: string): Promise<{ name: string; db: Db }> {
    const name = `bx_test_${randomBytes(5).toString('hex')}`;
    made.push(name);
    await admin.raw(`create database ${name} character set ${charset}`);
    const url = new URL(MYSQL_URL);
    url.pathname = `/${name}`;
    return { name, db: openDatabase({ database: { client: 'mysql', url: url.toString(), filename: ':memory:', passwordEnv: 'BX_DB_PASSWORD', pool: { min: 0, max: 2 }, migrateOnStart: true } }) };
  }

  for (const charset of ['latin1', 'utf8mb3']) {
    it(`a new ${charset} database: refused, naming the fix, and nothing created`, async () => {
      const { name, db } = await database(charset);
      try {
        await assert.rejects(migrateLatest(db), (err: Error) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, new RegExp(`database ${name} has the character set ${charset}`));
          assert.match(err.message, new RegExp(`ALTER DATABASE \`${name}\` CHARACTER SET utf8mb4`));
          return true;
        });
        const [tables] = await db.raw('select table_name from information_schema.tables where table_schema = database()');
        assert.deepEqual(tables, []);
        await db.raw(`alter database \`${name}\` character set utf8mb4 collate utf8mb4_general_ci`);
        assert.ok((await migrateLatest(db)).length > 0, 'migrated once the database is utf8mb4');
        const [[row]] = await db.raw(`select table_collation as c from information_schema.tables where table_schema = database() and table_name = 'clients'`);
        assert.match(row.c, /^utf8mb4_/);
      } finally {
        await db.destroy();
      }
    });
  }

  it('a table of our name made by someone else (no migration of ours interrupted) is an error, never taken as ours', async () => {
    const { db } = await database('utf8mb4');
    try {
      await db.raw('create table clients (id int primary key, note varchar(10))');
      await assert.rejects(migrateLatest(db), /Table 'clients' already exists/);
      assert.deepEqual(await db('knex_migrations').select('name'), []);
    } finally {
      await db.destroy();
    }
  });
});
