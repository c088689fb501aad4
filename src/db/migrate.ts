import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { ConfigError } from '../errors.js';
import { databaseLabelOf, dialectOf, type Db } from './connection.js';

// <root>/migrations beside src/ when run from TypeScript; dist/migrations (compiled) beside dist/src/
const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

/**
 * Migrations are listed without their extension, so the same history is valid whether they run
 * from TypeScript (tsx) or from the compiled dist/ (knex records names; an extension change would
 * otherwise corrupt the history).
 */
class MigrationSource implements Knex.MigrationSource<string> {
  private readonly files = new Map<string, string>();

  constructor(dir: string) {
    for (const file of readdirSync(dir).sort()) {
      const m = /^(\d{3}_[a-z0-9_]+)\.(ts|js)$/.exec(file);
      if (m && !file.endsWith('.d.ts')) this.files.set(m[1]!, join(dir, file));
    }
  }

  async getMigrations(): Promise<string[]> {
    return [...this.files.keys()];
  }

  getMigrationName(name: string): string {
    return name;
  }

  async getMigration(name: string): Promise<Knex.Migration> {
    const migration: Knex.Migration = await import(pathToFileURL(this.files.get(name)!).href);
    return { ...migration, up: (knex) => migration.up(rerunnable(knex)), down: (knex) => migration.down!(rerunnable(knex)) };
  }
}

/**
 * MariaDB commits each DDL statement on its own: a migration interrupted half-way (the process
 * killed, the connection lost) keeps the tables, columns and indexes it had made, while knex's
 * history does not list it. Run again, its first statement failed (table or column exists), and the
 * database could only be repaired by hand. After such an interruption (oneMigratorAtATime found the
 * dead migrator's lock) a DDL statement whose work is found done is skipped; anything else still
 * fails, and otherwise nothing is skipped (a table of that name made by someone else is an error).
 * PostgreSQL and SQLite roll the whole migration back.
 */
function rerunnable(knex: Knex): Knex {
  const client = knex.client as { query(conn: unknown, obj: unknown): Promise<unknown>; [RERUNNABLE]?: true };
  // only a migration's own transaction: its client is that transaction's, patched for its life alone
  if (dialectOf(knex) !== 'mysql' || !knex.isTransaction || !interrupted.has(knex.client.config.connection) || client[RERUNNABLE]) return knex;
  const query = client.query;
  client.query = async function (this: unknown, conn: unknown, obj: unknown) {
    try {
      return await query.call(this, conn, obj);
    } catch (err) {
      const sql = typeof obj === 'string' ? obj : (obj as { sql?: string }).sql ?? '';
      if (!/^\s*(create|alter) table\b/i.test(sql) || !alreadyDone(err)) throw err;
      return { ...(obj as object), response: [{ affectedRows: 0 }, undefined] };
    }
  };
  client[RERUNNABLE] = true;
  return knex;
}

const RERUNNABLE = Symbol('rerunnable');
/** The databases (their connection settings: knex's migrator clones the config, not them) whose migrator finishes an interrupted one. */
const interrupted = new WeakSet<object>();

/** MariaDB's answer to DDL whose work is there: table, column, index or foreign key exists; index (or primary key) to drop is gone. */
function alreadyDone(err: unknown): boolean {
  const { errno, message } = err as { errno?: number; message?: string };
  if (errno === 1005) return /errno: 121\b/.test(message ?? ''); // a foreign key of that name exists
  return errno === 1050 || errno === 1060 || errno === 1061 || errno === 1091 || errno === 1826;
}

function options(): Knex.MigratorConfig {
  return { migrationSource: new MigrationSource(MIGRATIONS_DIR), tableName: 'knex_migrations' };
}

/** Runs pending migrations; returns the names applied. */
export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = await oneMigratorAtATime(db, async () => {
    await refuseNewerSchema(db);
    await refuseNarrowCharacterSet(db);
    return db.migrate.latest(options());
  });
  return applied as string[];
}

/** Rolls back every migration (tests, and an operator undoing an install). */
export async function migrateDownAll(db: Db): Promise<string[]> {
  const [, undone] = await oneMigratorAtATime(db, async () => {
    await refuseNewerSchema(db);
    return db.migrate.rollback(options(), true);
  });
  return undone as string[];
}

/**
 * A database that a newer version migrated (its history names a migration this version does not
 * have) is refused, naming the migrations: this version's queries were written for an older
 * schema. knex refused it too, as "The migration directory is corrupt, the following files are
 * missing", which sent the operator looking for lost files; and read-only commands, which list only
 * what is missing, ran against it.
 */
export async function refuseNewerSchema(db: Db): Promise<void> {
  if (!(await db.schema.hasTable('knex_migrations'))) return;
  const known = new Set(await new MigrationSource(MIGRATIONS_DIR).getMigrations());
  const recorded: Array<{ name: string }> = await db('knex_migrations').orderBy('id').select('name');
  const unknown = recorded.map((r) => r.name).filter((name) => !known.has(name));
  if (unknown.length === 0) return;
  throw new ConfigError(`database ${databaseLabelOf(db)} was migrated by a newer version of bureau-exchange ` +
    `(migration${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} unknown to this one, whose last is ${[...known].at(-1)}): ` +
    'run that version or a later one against it; this one does not use a schema it does not know');
}

/** How long a migrator waits for another one before it gives up. */
const MIGRATOR_WAIT_SECONDS = 900;

/**
 * One migrator at a time, the next waiting for it (two daemons starting together, or `migrate` while
 * the daemon starts), on a lock the server releases with the session that holds it.
 *
 * MariaDB: knex's own lock (knex_migrations_lock) is taken in the migration's transaction, which
 * MariaDB commits at the first DDL statement. A second migrator then failed at once with 'Migration
 * table is already locked', and a migrator killed half-way left the lock taken for good: every later
 * start failed so, until it was cleared by hand. Holding the named lock, any lock left in knex's
 * table is a dead migrator's.
 *
 * PostgreSQL: knex's lock row is held by the first migrator's transaction, and the second waited for
 * it only as long as our sessions wait for a lock (60 s, or the operator's lock_timeout), then
 * failed: a migration that outlasted that (005 on a large card table waiting for the card system's
 * transactions) made a second daemon starting together exit. The advisory lock is waited for
 * MIGRATOR_WAIT_SECONDS.
 */
async function oneMigratorAtATime<T>(db: Db, migrate: () => Promise<T>): Promise<T> {
  const dialect = dialectOf(db);
  if (dialect === 'sqlite') return migrate();
  // a connection of its own: the pool may hold one connection only, which knex's migration needs
  const session = knexFactory({ ...db.client.config, pool: { ...db.client.config.pool, min: 0, max: 1 } });
  let stopKeepingAlive: () => void = () => undefined;
  try {
    if (!(await takeMigratorsLock(session, dialect))) throw new Error(`another process has been migrating this database for ${MIGRATOR_WAIT_SECONDS} s: not migrated`);
    stopKeepingAlive = await keepAlive(session, dialect);
    if (dialect === 'mysql') {
      if (await deadMigratorsLock(db)) interrupted.add(db.client.config.connection);
      await db.migrate.forceFreeMigrationsLock(options());
    }
    return await migrate();
  } finally {
    stopKeepingAlive();
    interrupted.delete(db.client.config.connection);
    await session.destroy(); // the session's end releases the lock
  }
}

/**
 * The lock's session is idle while the migration runs on another connection: a server that closes
 * idle sessions (MariaDB's wait_timeout, which DBAs lower from 8 hours; PostgreSQL's
 * idle_session_timeout) released the lock under a long migration, and let a second migrator in,
 * which took the first's knex lock for a dead migrator's and ran the same migrations at once. A
 * statement every third of that time keeps it; a migrator that died stops them, and its lock goes.
 */
async function keepAlive(session: Knex, dialect: 'pg' | 'mysql'): Promise<() => void> {
  const idleMs = dialect === 'mysql'
    ? Number((await session.raw('select @@session.wait_timeout as s'))[0][0].s) * 1000
    // unit ms; no such setting before PostgreSQL 14
    : Number((await session.raw(`select setting from pg_settings where name = 'idle_session_timeout'`)).rows[0]?.setting ?? 0);
  if (!(idleMs > 0)) return () => undefined;
  const timer = setInterval(() => void session.raw('select 1').catch(() => undefined), Math.max(200, Math.floor(idleMs / 3)));
  timer.unref();
  return () => clearInterval(timer);
}

/** The lock of this database's migrators, waited for MIGRATOR_WAIT_SECONDS: false when it was not had by then. */
async function takeMigratorsLock(session: Knex, dialect: 'pg' | 'mysql'): Promise<boolean> {
  if (dialect === 'mysql') {
    // named per database (the server's lock names are its own, across databases), within their 64 characters
    const [[{ got }]] = await session.raw(`select get_lock(concat('bureau-exchange migrate ', md5(database())), ?) as got`, [MIGRATOR_WAIT_SECONDS]);
    return Number(got) === 1;
  }
  // advisory locks are the current database's; the session waits no longer for it than for any lock
  await session.raw(`select set_config('lock_timeout', '${MIGRATOR_WAIT_SECONDS}s', false)`);
  try {
    await session.raw('select pg_advisory_lock(?)', [PG_MIGRATORS_LOCK]);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') return false; // lock_not_available: the wait ran out
    throw err;
  }
}

/** The key of the migrators' advisory lock on PostgreSQL ('bxmigr' in ASCII). */
const PG_MIGRATORS_LOCK = 0x62786d696772;

/** Whether knex's lock is taken while we hold the named lock: its migrator died half-way. */
async function deadMigratorsLock(db: Db): Promise<boolean> {
  if (!(await db.schema.hasTable('knex_migrations_lock'))) return false;
  return (await db('knex_migrations_lock').where({ is_locked: 1 }).first()) !== undefined;
}

/**
 * Our tables take the MariaDB database's character set. Created without CHARACTER SET utf8mb4 (a
 * server whose default is latin1 or utf8mb3), they could not hold every name: a card named Łukasz,
 * or an emoji in a report, failed its whole import chunk or the report's apply, on every run. A new
 * database (no table of ours yet) is refused, with the fix; one migrated before is left as it is.
 */
async function refuseNarrowCharacterSet(db: Db): Promise<void> {
  if (dialectOf(db) !== 'mysql' || (await db.schema.hasTable('knex_migrations'))) return;
  const [[{ name, charset }]] = await db.raw('select database() as name, @@character_set_database as charset');
  if (charset === 'utf8mb4') return;
  throw new ConfigError(`database ${name} has the character set ${charset}: its tables could not hold every name (an emoji, a letter outside ${charset}). ` +
    `Create it with CHARACTER SET utf8mb4, or run ALTER DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci; then migrate again`);
}

/** Rolls back the last migration applied; returns its name (tests of a migration's down). */
export async function migrateDownLast(db: Db): Promise<string[]> {
  const [, undone] = await db.migrate.down(options());
  return undone as string[];
}

export async function pendingMigrations(db: Db): Promise<string[]> {
  await refuseNewerSchema(db);
  const [, pending] = await db.migrate.list(options());
  return (pending as Array<{ file: string } | string>).map((p) => (typeof p === 'string' ? p : p.file));
}

/**
 * Migrations not applied yet, read without writing anything (knex's own listing creates its history
 * table): read-only commands use it to refuse a database that is missing or behind. Throws for a
 * database a newer version migrated.
 */
export async function unappliedMigrations(db: Db): Promise<string[]> {
  const all = await new MigrationSource(MIGRATIONS_DIR).getMigrations();
  if (!(await db.schema.hasTable('knex_migrations'))) return all;
  await refuseNewerSchema(db);
  const applied = new Set((await db('knex_migrations').select('name')).map((r: { name: string }) => r.name));
  return all.filter((name) => !applied.has(name));
}
