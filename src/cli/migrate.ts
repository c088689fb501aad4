import type { Command } from 'commander';
import { withApp } from '../app.js';
import { migrateDownAll, migrateLatest } from '../db/migrate.js';

export const order = 10;

export function register(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (--down: undo them all)')
    .option('--down', 'roll back every migration (drops the tables)')
    .action(async (opts: { down?: boolean }, cmd: Command) => {
      await withApp(cmd.optsWithGlobals(), async ({ db, log }) => {
        if (opts.down) log.info({ undone: await migrateDownAll(db) }, 'migrations rolled back');
        else log.info({ applied: await migrateLatest(db) }, 'database is up to date');
      }, { migrate: false });
    });
}
