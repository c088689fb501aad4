import type { Command } from 'commander';
import { openApp, type App } from '../app.js';
import { assertTimezone, makeCalendar } from '../calendar/index.js';
import { requireKeys } from '../config/load.js';
import { makeDaemon } from '../daemon/daemon.js';
import { startHttpServer } from '../daemon/http.js';
import { pgpKeyExpiries } from '../daemon/key-check.js';
import { onShutdownSignals, stopWithin } from '../daemon/shutdown.js';
import { makeProductionJobs } from '../daemon/wiring.js';
import { migrateLatest } from '../db/migrate.js';
import { messageOf } from '../errors.js';

export const order = 20;

/** Config keys without which the daemon cannot do its work: refuse to start rather than fail at 17:00. */
export const DAEMON_REQUIRED_KEYS = ['sftp.host', 'sftp.username', 'sftp.hostKeySha256', 'pgp.bureauPublicKeyFile', 'pgp.bureauFingerprint'];

export function register(program: Command): void {
  program
    .command('daemon')
    .description('run as a service: send at the cut-off(s) on business days, receive every N minutes; one active runner per database, others wait as standby')
    .action(async (_opts: unknown, cmd: Command) => {
      const app = await openApp(cmd.optsWithGlobals(), { migrate: false });
      try {
        await prepare(app);
      } catch (err) {
        await app.close();
        throw err;
      }
      process.exitCode = await serve(app);
    });
}

async function prepare({ config, db, log }: App): Promise<void> {
  requireKeys(config, DAEMON_REQUIRED_KEYS, 'the daemon');
  makeCalendar(config.calendar);
  assertTimezone(config.schedule.timezone);
  if (config.database.migrateOnStart) {
    const applied = await migrateLatest(db);
    if (applied.length) log.info({ applied }, 'database migrated');
  }
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code once everything is closed. */
async function serve(app: App): Promise<number> {
  const { config, db, log } = app;
  const shutdown = new AbortController();
  const daemon = makeDaemon({
    db, config, log,
    jobs: makeProductionJobs(app, { signal: shutdown.signal }),
    keyExpiries: (now) => pgpKeyExpiries(config.pgp, now),
  });
  const http = config.http.enabled
    ? await startHttpServer(config.http, { health: () => daemon.health(), registry: daemon.metrics.registry, log })
    : undefined;
  const timeoutMs = config.daemon.shutdownTimeoutSeconds * 1000;

  const stopped = new Promise<boolean>((resolve) => {
    const stop = (reason: string) => {
      shutdown.abort();
      void stopWithin(() => daemon.stop(reason), timeoutMs, log).then(resolve);
    };
    onShutdownSignals({
      graceful: (signal) => stop(`${signal} received`),
      forced: (signal) => {
        log.error({ signal }, 'second signal: exiting now; unfinished steps resume at the next start');
        process.exit(1);
      },
    });
    process.on('unhandledRejection', (err) => {
      log.fatal({ error: messageOf(err) }, 'unexpected error: stopping');
      process.exitCode = 1;
      stop('unexpected error');
    });
  });

  daemon.start();
  const finished = await stopped;
  await http?.close();
  if (!finished) process.exit(Number(process.exitCode ?? 0)); // a step is still running: do not wait for it
  await app.close();
  // every timer and connection is closed by now; should a library keep a handle open, do not hang
  setTimeout(() => process.exit(Number(process.exitCode ?? 0)), 2000).unref();
  return Number(process.exitCode ?? 0);
}
