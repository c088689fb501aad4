import type { LoadedConfig } from './config/load.js';
import { loadConfig } from './config/load.js';
import { dataKeyFromEnv } from './config/secrets.js';
import { existsSync } from 'node:fs';
import { databaseLabel, namingDatabase, openDatabase, pingDatabase, type Db } from './db/connection.js';
import { migrateLatest, refuseNewerSchema, unappliedMigrations } from './db/migrate.js';
import { ConfigError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { PanCipher } from './security/pan.js';

/** Options every command accepts (global CLI flags). */
export interface GlobalOptions {
  config?: string;
  pretty?: boolean;
  logLevel?: string;
}

/** What a command runs with: validated config, logger, database, PAN cipher. Close it when done. */
export interface App {
  config: LoadedConfig;
  log: Logger;
  db: Db;
  cipher: PanCipher;
  close(): Promise<void>;
}

export function makeLogger(config: LoadedConfig | undefined, options: GlobalOptions): Logger {
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  return createLogger({ level: options.logLevel ?? config?.log.level ?? 'info', pretty });
}

export interface OpenOptions {
  /** run pending migrations when database.migrateOnStart allows it */
  migrate?: boolean;
  /** the daemon may start while its database is down: it waits as a standby, its health saying so */
  databaseMayBeDown?: boolean;
  /**
   * the command only reads: the database must exist and be migrated; it is never created or
   * migrated (a mistyped workDir must not look like an empty database)
   */
  readOnly?: boolean;
}

/**
 * Loads config, checks the PAN key (the program refuses to start without it), opens the database,
 * and runs pending migrations when `migrate` is true and database.migrateOnStart allows it.
 */
export async function openApp(options: GlobalOptions, { migrate = false, readOnly = false, databaseMayBeDown = false }: OpenOptions = {}): Promise<App> {
  const config = loadConfig(options.config);
  const log = makeLogger(config, options);
  const cipher = new PanCipher(
    dataKeyFromEnv(config.pan.keyEnv)!,
    dataKeyFromEnv(config.pan.previousKeyEnv, process.env, false),
  );
  if (readOnly && config.database.client === 'sqlite' && config.database.filename !== ':memory:' && !existsSync(config.database.filename)) {
    throw notMigrated(config, 'does not exist');
  }
  const db = openDatabase(config);
  try {
    if (!databaseMayBeDown) await namingDatabase(db, () => pingDatabase(db));
    if (readOnly) {
      const pending = await unappliedMigrations(db);
      if (pending.length) throw notMigrated(config, `is not migrated (${pending.length} migration(s) pending: ${pending.join(', ')})`);
    } else if (migrate && config.database.migrateOnStart) {
      const applied = await migrateLatest(db);
      if (applied.length) log.info({ applied }, 'database migrated');
    } else if (!databaseMayBeDown) {
      // not migrating here (migrateOnStart off, or the command migrates itself): a schema a newer
      // version made is refused all the same, before a write meets columns this version does not know
      await refuseNewerSchema(db);
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return { config, log, db, cipher, close: () => db.destroy() };
}

function notMigrated(config: LoadedConfig, what: string): ConfigError {
  return new ConfigError(`database ${databaseLabel(config)} ${what}: check workDir and database in ${config.configFile}, ` +
    'or run `bureau-exchange migrate` to create or update it');
}

/** Runs `fn` with an open app and always closes it. */
export async function withApp<T>(options: GlobalOptions, fn: (app: App) => Promise<T>, open: OpenOptions = { migrate: true }): Promise<T> {
  const app = await openApp(options, open);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}
