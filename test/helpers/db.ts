import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import { openDatabase, type Db, type Dialect } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { requireOrSkip } from './ci.js';

/** One fresh, migrated database for a test file. */
export interface TestDatabase {
  dialect: Dialect;
  db: Db;
  /** the database section that opens it (for code that opens its own connection, e.g. a child process) */
  database: Config['database'];
}

const PG_URL = process.env.BX_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.BX_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

const availability = new Map<Dialect, Promise<string | null>>();

/** Null when the server answers, else why not. */
export function databaseUnavailableReason(dialect: Dialect): Promise<string | null> {
  if (dialect === 'sqlite') return Promise.resolve(null);
  if (!availability.has(dialect)) {
    const probe = async () => {
      const admin = adminConnection(dialect);
      try {
        await admin.raw('select 1');
        return null;
      } catch (err) {
        return `${dialect} at ${dialect === 'pg' ? PG_URL : MYSQL_URL} is not reachable: ${(err as Error).message}`;
      } finally {
        await admin.destroy();
      }
    };
    availability.set(dialect, probe());
  }
  return availability.get(dialect)!;
}

function adminConnection(dialect: 'pg' | 'mysql') {
  return dialect === 'pg'
    ? knexFactory({ client: 'pg', connection: PG_URL, pool: { min: 0, max: 1 } })
    : knexFactory({ client: 'mysql2', connection: { uri: MYSQL_URL } as any, pool: { min: 0, max: 1 } });
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = '/' + name;
  return u.toString();
}

/** Creates a fresh database of the dialect, migrated to the latest schema. */
export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase & { drop(): Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'bx-db-'));
    const database = sectionFor('sqlite', { filename: join(dir, 'test.sqlite') });
    const db = openDatabase({ database });
    await migrateLatest(db);
    return { dialect, db, database, drop: async () => { await db.destroy(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const name = `bx_test_${randomBytes(5).toString('hex')}`;
  const admin = adminConnection(dialect);
  await admin.raw(dialect === 'pg' ? `create database ${name}` : `create database ${name} character set utf8mb4`);
  await admin.destroy();
  const database = sectionFor(dialect, { url: withDatabase(dialect === 'pg' ? PG_URL : MYSQL_URL, name) });
  const db = openDatabase({ database });
  await migrateLatest(db);
  const drop = async () => {
    await db.destroy();
    const again = adminConnection(dialect);
    await again.raw(dialect === 'pg' ? `drop database if exists ${name} with (force)` : `drop database if exists ${name}`);
    await again.destroy();
  };
  return { dialect, db, database, drop };
}

function sectionFor(client: Dialect, extra: Partial<Config['database']>): Config['database'] {
  return { client, filename: ':memory:', passwordEnv: 'BX_DB_PASSWORD', pool: { min: 0, max: 5 }, migrateOnStart: true, ...extra };
}

/** The dialects a behaviour suite runs against: SQLite always, PostgreSQL and MariaDB when reachable. */
export const DIALECTS: Dialect[] = (process.env.BX_TEST_DIALECTS?.split(',') as Dialect[] | undefined) ?? ['sqlite', 'pg', 'mysql'];

/**
 * Runs `suite` once per dialect, each with its own fresh database. A server that is not reachable
 * makes its suite pending with the reason, except under CI=true, where it fails.
 */
export function describeEachDatabase(title: string, suite: (ctx: () => TestDatabase) => void, dialects: Dialect[] = DIALECTS): void {
  for (const dialect of dialects) {
    describe(`${title} [${dialect}]`, function () {
      let current: (TestDatabase & { drop(): Promise<void> }) | undefined;
      before(async function () {
        requireOrSkip(this, await databaseUnavailableReason(dialect));
        current = await createTestDatabase(dialect);
      });
      after(async () => {
        await current?.drop();
      });
      suite(() => {
        if (!current) throw new Error('database not ready');
        return current;
      });
    });
  }
}

/** A fresh random PAN data key. */
export function newPanKey(): Buffer {
  return randomBytes(32);
}

/** Transactions of this database waiting for a row lock (PostgreSQL, MariaDB). */
async function lockWaiters(db: Knex): Promise<number> {
  if ((db.client as { config: { client: string } }).config.client === 'pg') {
    const { rows } = await db.raw("select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'");
    return rows[0].n;
  }
  const [rows] = await db.raw("select count(*) as n from information_schema.innodb_trx where trx_state = 'LOCK WAIT'");
  return Number(rows[0].n);
}

/**
 * Resolves once `work` settled or `waiters` transactions wait for a lock, polling the server's own
 * state every 100 ms on a connection of its own (the test's pool serves the transactions; polling
 * MariaDB's innodb_trx faster was seen to disturb what it watches), and after 10 s at most: the
 * outcome is asserted either way, and a test must not hang if the server shows a wait otherwise.
 */
export async function settledOrWaiting(database: TestDatabase['database'], work: Promise<unknown>, waiters = 1): Promise<void> {
  let settled = false;
  work.then(() => { settled = true; }, () => { settled = true; });
  const watcher = knexFactory(database.client === 'pg'
    ? { client: 'pg', connection: database.url, pool: { min: 0, max: 1 } }
    : { client: 'mysql2', connection: { uri: database.url } as never, pool: { min: 0, max: 1 } });
  const until = Date.now() + 10_000;
  try {
    while (!settled && Date.now() < until && (await lockWaiters(watcher)) < waiters) await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    await watcher.destroy();
  }
}
