import type { LoadedConfig } from './config/load.js';
import { loadConfig } from './config/load.js';
import { dataKeyFromEnv } from './config/secrets.js';
import { openDatabase, type Db } from './db/connection.js';
import { migrateLatest } from './db/migrate.js';
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
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  return createLogger({ level: options.logLevel ?? config?.log.level ?? 'info', pretty });
}

/**
 * Loads config, checks the PAN key (the program refuses to start without it), opens the database,
 * and runs pending migrations when `migrate` is true and database.migrateOnStart allows it.
 */
export async function openApp(options: GlobalOptions, { migrate = false } = {}): Promise<App> {
  const config = loadConfig(options.config);
  const log = makeLogger(config, options);
  const cipher = new PanCipher(
    dataKeyFromEnv(config.pan.keyEnv)!,
    dataKeyFromEnv(config.pan.previousKeyEnv, process.env, false),
  );
  const db = openDatabase(config);
  try {
    if (migrate && config.database.migrateOnStart) {
      const applied = await migrateLatest(db);
      if (applied.length) log.info({ applied }, 'database migrated');
    }
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return { config, log, db, cipher, close: () => db.destroy() };
}

/** Runs `fn` with an open app and always closes it. */
export async function withApp<T>(options: GlobalOptions, fn: (app: App) => Promise<T>, open = { migrate: true }): Promise<T> {
  const app = await openApp(options, open);
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}
