import { basename } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { withApp } from '../app.js';
import type { LoadedConfig } from '../config/load.js';
import { databaseLabel } from '../db/connection.js';
import { migrateDownAll, migrateLatest } from '../db/migrate.js';
import { UsageError } from '../errors.js';

export const order = 10;

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (--down --yes: undo them all, dropping every table)')
    .option('--down', 'roll back every migration: drops the tables and all their data')
    .option('--yes', 'with --down: do not ask (needed when not on a terminal)')
    .action(async (opts: { down?: boolean; yes?: boolean }, cmd: Command) => {
      if (opts.yes && !opts.down) throw new UsageError('--yes confirms --down: not without it');
      await withApp(cmd.optsWithGlobals(), async ({ config, db, log }) => {
        if (opts.down) {
          await confirmDown(config, Boolean(opts.yes));
          log.info({ undone: await migrateDownAll(db) }, 'migrations rolled back');
        } else log.info({ applied: await migrateLatest(db) }, 'database is up to date');
      }, { migrate: false });
    });
}

/** The name a person types to confirm: the SQLite file's name, or the database name in the URL. */
function databaseName(config: LoadedConfig): string {
  if (config.database.client === 'sqlite') return basename(config.database.filename);
  try {
    return new URL(config.database.url ?? '').pathname.replace(/^\//, '') || databaseLabel(config);
  } catch {
    return databaseLabel(config);
  }
}

/** Dropping every table needs --yes, or the database's name typed on a terminal. */
async function confirmDown(config: LoadedConfig, yes: boolean): Promise<void> {
  if (yes) return;
  const label = databaseLabel(config);
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`migrate --down drops every table of ${label} and all its data: add --yes to confirm`);
  }
  const name = databaseName(config);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`migrate --down drops every table of ${label} and all its data.\nType the database name (${name}) to go on: `);
    if (answer.trim() !== name) throw new UsageError('migrate --down: not confirmed, nothing changed');
  } finally {
    prompt.close();
  }
}
