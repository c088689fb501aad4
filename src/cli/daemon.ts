import type { Command } from 'commander';
import { openApp } from '../app.js';
import { prepareDaemon, runDaemonService } from '../daemon/service.js';

export const order = 20;

export function register(program: Command): void {
  program
    .command('daemon')
    .description('run as a service: send at the cut-off(s) on business days, receive every N minutes; one active runner per database, others wait as standby (docs/operations.md)')
    .action(async (_opts: unknown, cmd: Command) => {
      const app = await openApp(cmd.optsWithGlobals(), { migrate: false, databaseMayBeDown: true });
      try {
        await prepareDaemon(app);
        process.exitCode = await runDaemonService(app);
      } catch (err) {
        // e.g. the HTTP port is taken: close the database so the process can exit with the error
        await app.close().catch(() => undefined);
        throw err;
      }
    });
}
