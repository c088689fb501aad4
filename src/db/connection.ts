import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../config/schema.js';
import { secretFromEnv } from '../config/secrets.js';
import { ConfigError } from '../errors.js';

/** The database handle the other layers pass around; only db/ knows it is knex. */
export type Db = Knex;
export type DbTransaction = Knex.Transaction;
export type Dialect = 'sqlite' | 'pg' | 'mysql';

/** Opens the configured database. SQLite: the file (and its folder) is created on first use, private. */
/**
 * knex's own messages. "Acquire connection error" repeats, with its stack, the error the caller gets
 * and reports naming the database (a command printed both); the others go to the console, which the
 * CLI and the daemon send to stderr through the log scrubber.
 */
const KNEX_LOG = {
  warn: (message: string) => {
    if (!String(message).startsWith('Acquire connection error')) console.warn(message);
  },
  error: (message: string) => console.error(message),
  deprecate: (method: string, alternative: string) => console.warn(`knex: ${method} is deprecated, use ${alternative}`),
  debug: () => undefined,
};

export function openDatabase(config: Pick<Config, 'database'>): Db {
  const { client, filename, url, passwordEnv, pool } = config.database;
  if (client === 'sqlite') {
    if (filename !== ':memory:') makePrivateSqliteFile(filename);
    return beginImmediate(knexFactory({
      client: 'better-sqlite3',
      connection: { filename },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: any, done: (err: Error | null, conn: unknown) => void) => {
          conn.pragma('journal_mode = WAL');
          // FULL: a commit is on disk before it returns. With NORMAL a power cut may undo a committed claim
          // whose file was already uploaded, and its cards would be sent again.
          conn.pragma('synchronous = FULL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          done(null, conn);
        },
      },
    }));
  }
  if (!url) throw new ConfigError(`config key database.url is required for database.client ${client}`);
  const password = secretFromEnv(passwordEnv);
  const secret = password ? { password } : {};
  if (client === 'pg') {
    // libpq's parameter, in seconds (at least 2, as libpq counts), which pg reads but never applies
    const connection = { connectionString: url, connectionTimeoutMillis: connectTimeoutMs(url, 'connect_timeout', 1000, 2000), ...secret };
    return explainConnectTimeouts(knexFactory({ client: 'pg', connection, pool: { ...pool, afterCreate: onConnect(PG_SESSION) }, log: KNEX_LOG }));
  }
  return explainConnectTimeouts(knexFactory({
    client: 'mysql2',
    log: KNEX_LOG,
    // mysql2's URL parameter, in milliseconds (which its options given here would override)
    connection: { uri: url, connectTimeout: connectTimeoutMs(url, 'connectTimeout', 1, 1), supportBigNumbers: true, bigNumberStrings: true, ...secret } as any,
    pool: { ...pool, afterCreate: onConnect(MYSQL_SESSION) },
  }));
}

/**
 * How long opening a connection may take. A server that accepts TCP and never answers (a hung
 * server, a half-open port forward, a firewall that drops after the handshake) made a PostgreSQL
 * connect wait for knex's pool to give up (30 s), with the misleading "Timeout acquiring a
 * connection. The pool is probably full": bounded, the connect fails with the driver's timeout.
 */
export const CONNECT_TIMEOUT_SECONDS = 10;

/**
 * The URL's own connect timeout when it sets a positive one (in `unitMs`, at least `minMs`), else
 * ours: absent, zero (the drivers' "forever", which would leave knex's 30 s) or not a number.
 */
function connectTimeoutMs(url: string, parameter: string, unitMs: number, minMs: number): number {
  let value = NaN;
  try {
    value = Number(new URL(url).searchParams.get(parameter) ?? NaN);
  } catch {
    // not a URL: the driver refuses it when it connects, naming it
  }
  return value > 0 ? Math.max(minMs, Math.round(value * unitMs)) : CONNECT_TIMEOUT_SECONDS * 1000;
}

/**
 * How long a statement of ours waits for a lock another client holds, unless the server, database,
 * role or URL (`?options=-c lock_timeout=…`) already bounds it: PostgreSQL waits forever by default,
 * MariaDB for a day on a table lock (an `ALTER TABLE` or `LOCK TABLES` of the card system), and a
 * send waiting forever holds its lease, so no other runner takes over and nothing alerts. Bounded,
 * the statement fails, the run fails naming the lock wait, and the daemon's retries go on.
 */
export const LOCK_WAIT_SECONDS = 60;
/**
 * PostgreSQL ends a session of ours left idle inside a transaction this long (a process hung
 * mid-claim): its row locks on Marked cards would otherwise block the card system's updates until
 * the process died. No step of ours holds a transaction open while it waits on the network.
 */
export const IDLE_IN_TRANSACTION_SECONDS = 300;

const PG_SESSION = [
  `SELECT set_config('lock_timeout', '${LOCK_WAIT_SECONDS}s', false) WHERE current_setting('lock_timeout') = '0'`,
  `SELECT set_config('idle_in_transaction_session_timeout', '${IDLE_IN_TRANSACTION_SECONDS}s', false) WHERE current_setting('idle_in_transaction_session_timeout') = '0'`,
];
const MYSQL_SESSION = [
  // READ COMMITTED, as on PostgreSQL, which the claim and the state changes are built for. Under
  // MariaDB's default REPEATABLE READ a state change locks gaps of the batches' state index: one
  // bureau's confirm, held open while it moves a million cards, made another bureau's next state
  // change wait for it, up to the lock wait timeout (test/outbound/bureaus.spec.ts, kill at 'confirming').
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
  // row locks already wait innodb_lock_wait_timeout (50 s by default); table locks a day (MariaDB's
  // default, 86400 s) or a year (MySQL's, 31536000 s): either is taken as "not set"
  `SET SESSION lock_wait_timeout = IF(@@session.lock_wait_timeout >= 86400, ${LOCK_WAIT_SECONDS}, @@session.lock_wait_timeout)`,
];

/**
 * The drivers say a connect ran out of time in few words (pg 'timeout expired', mysql2 'connect
 * ETIMEDOUT'): the message says what happened and after how long; the error keeps its class and code.
 */
function explainConnectTimeouts(db: Db): Db {
  const client = db.client as { acquireRawConnection(): Promise<unknown>; connectionSettings: Record<string, unknown> };
  const acquire = client.acquireRawConnection;
  client.acquireRawConnection = async function (this: unknown) {
    const started = performance.now();
    try {
      return await acquire.call(this);
    } catch (err) {
      const e = err as { message?: string; code?: string };
      if (err instanceof Error && (e.code === 'ETIMEDOUT' || /^timeout expired$/.test(e.message ?? ''))) {
        const seconds = Math.round((performance.now() - started) / 1000);
        err.message = `the database server did not answer the connection within ${seconds} s (${err.message})`;
      }
      throw err;
    }
  };
  return db;
}

/** The pool's afterCreate: the statements run in order on each new connection, before its first use. */
function onConnect(statements: string[]) {
  return (conn: any, done: (err: Error | null, conn: unknown) => void) => {
    const next = (i: number) => {
      if (i === statements.length) return done(null, conn);
      conn.query(statements[i], (err: Error | null) => (err ? done(err, conn) : next(i + 1)));
    };
    next(0);
  };
}

/**
 * SQLite transactions take the write lock at BEGIN (IMMEDIATE), waiting busy_timeout for it. knex
 * begins them DEFERRED: one that read first and wrote second, while another process (the daemon and
 * a CLI command share the file) committed in between, failed at its first write with
 * SQLITE_BUSY_SNAPSHOT at once, busy_timeout or not (its snapshot is stale). A read-only transaction
 * keeps BEGIN: it never writes, and must not wait for writers.
 */
function beginImmediate(db: Db): Db {
  const client = db.client as { transaction: (...args: unknown[]) => SqliteTransaction };
  const transaction = client.transaction;
  client.transaction = function (this: unknown, ...args: unknown[]) {
    const trx = transaction.apply(this, args);
    trx.begin = (conn: unknown) => trx.query(conn, trx.readOnly ? 'BEGIN;' : 'BEGIN IMMEDIATE;');
    return trx;
  };
  return db;
}

/** What beginImmediate uses of knex's Transaction_Sqlite (knex/lib/dialects/sqlite3/execution). */
interface SqliteTransaction {
  readOnly?: boolean;
  begin(conn: unknown): Promise<unknown>;
  query(conn: unknown, sql: string): Promise<unknown>;
}

/** One trivial query: does the database answer? */
export async function pingDatabase(db: Db): Promise<void> {
  await db.raw('select 1');
}

/**
 * The SQLite file holds names and addresses in clear: owner only, whatever the umask. Its folder is
 * made 0700 when we create it; the file is made 0600 before SQLite opens it, and SQLite gives its
 * -wal and -shm files the database file's mode. A file (or -wal, -shm) left open to others by an
 * older version is closed now.
 */
function makePrivateSqliteFile(filename: string): void {
  mkdirSync(dirname(filename), { recursive: true, mode: 0o700 });
  if (!existsSync(filename)) closeSync(openSync(filename, 'a', 0o600));
  for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
    if (existsSync(file) && (statSync(file).mode & 0o777) !== 0o600) chmodOwnerOnly(file);
  }
}

function chmodOwnerOnly(file: string): void {
  try {
    chmodSync(file, 0o600);
  } catch (err) {
    // a file of another user that we may write: its owner decides
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
  }
}

/** The database as an operator names it in a message: the SQLite file, or the URL without its password (user part or parameter). */
export function databaseLabel(config: Pick<Config, 'database'>): string {
  const { client, filename, url } = config.database;
  if (client === 'sqlite') return filename;
  try {
    const parsed = new URL(url ?? '');
    if (parsed.password) parsed.password = '***';
    // libpq's URLs (and so pg's) take the password as a parameter too: ?password=…, ?sslpassword=…
    for (const key of [...parsed.searchParams.keys()]) if (/password/i.test(key)) parsed.searchParams.set(key, '***');
    return parsed.toString();
  } catch {
    return `(${client} database.url not a URL)`;
  }
}

/** databaseLabel of an open database, from the settings it was opened with. */
export function databaseLabelOf(db: Db): string {
  const connection = db.client.config.connection as { filename?: string; connectionString?: string; uri?: string };
  const client = dialectOf(db);
  return databaseLabel({ database: { client, filename: connection.filename ?? '', url: connection.connectionString ?? connection.uri } } as Pick<Config, 'database'>);
}

/**
 * Runs `step` against the database; a failure names which database, since the driver's words alone
 * ("connect ECONNREFUSED 127.0.0.1:5432", "read ECONNRESET") do not say it is the database. The
 * error keeps its class and code: the CLI and the daemon decide on those.
 */
export async function namingDatabase<T>(db: Db, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const label = databaseLabelOf(db);
    if (err instanceof Error && !err.message.includes(label)) err.message = `database ${label}: ${err.message}`;
    throw err;
  }
}

export function dialectOf(db: Db): Dialect {
  const name = db.client.config.client as string;
  if (name === 'pg' || name === 'postgres' || name === 'postgresql') return 'pg';
  if (name === 'mysql' || name === 'mysql2') return 'mysql';
  return 'sqlite';
}

/** The current time as an ISO string: timestamps are stored as UTC ISO text on every dialect. */
export function nowIso(clock: () => Date = () => new Date()): string {
  return clock().toISOString();
}

/** Inserts one row and returns its new id, on every dialect (MySQL has no RETURNING). */
export async function insertReturningId(trx: Knex | Knex.Transaction, table: string, row: Record<string, unknown>): Promise<number> {
  const query = trx(table).insert(row);
  const [result] = dialectOf(trx as Knex) === 'mysql' ? await query : await query.returning('id');
  const value = typeof result === 'object' && result !== null ? (result as { id: unknown }).id : result;
  return Number(value);
}
