import type { Command } from 'commander';
import { openApp } from '../app.js';
import { prepareDaemon, runDaemonService } from '../daemon/service.js';

export const order = 20;

export function register(program: Command): void {
  program
    .command('daemon')
    .description('run as a service: send at the cut-off(s) on business days, receive every N minutes; one active runner per database, others wait as standby (docs/operations.md)')
    .action(async (_opts: unknown, cmd: Command) => {
      const app = await openApp(cmd.optsWithGlobals(), { migrate: false });
      try {
        await prepareDaemon(app);
      } catch (err) {
        await app.close();
        throw err;
      }
      process.exitCode = await runDaemonService(app);
    });
}
