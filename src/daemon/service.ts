import type { App } from '../app.js';
import { assertTimezone, makeCalendar } from '../calendar/index.js';
import { REQUIRED_KEYS, requireKeys } from '../config/load.js';
import { namingDatabase } from '../db/connection.js';
import { migrateLatest, refuseNewerSchema } from '../db/migrate.js';
import { ConfigError, messageOf } from '../errors.js';
import { shellWord } from '../security/shown-text.js';
import { makeDaemon, type DaemonDeps } from './daemon.js';
import { startHttpServer } from './http.js';
import { everyBureauKeyExpiries } from './key-check.js';
import { onShutdownSignals } from '../signals.js';
import { stopWithin } from './shutdown.js';
import { sendBureaus } from '../outbound/bureau-config.js';
import { makeProductionJobs } from '../wiring.js';
import { makeStatusData } from '../web/status-data.js';
import { statusRoutes, statusTokenFromEnv } from '../web/status-routes.js';


export interface ServiceOptions {
  /** the jobs to schedule, given the shutdown signal (default: the real jobs over SFTP) */
  makeJobs?: (signal: AbortSignal) => DaemonDeps['jobs'];
}

/** Checks the config and migrates (database.migrateOnStart): everything that must hold before serving. */
export async function prepareDaemon({ config, db, log }: App): Promise<void> {
  // refuse to start rather than fail at the cut-off
  const required = [...REQUIRED_KEYS.sftp, ...REQUIRED_KEYS.unattended, ...REQUIRED_KEYS.encrypt];
  requireKeys(config, required, 'the daemon');
  // each bureau's send runs unattended at its own cut-offs: a bureau without its server or key refuses the start too
  for (const bureau of sendBureaus(config).slice(1)) requireKeys(bureau.config, required, `the daemon's sends to bureau ${bureau.code}`);
  makeCalendar(config.calendar);
  assertTimezone(config.schedule.timezone);
  if (config.database.migrateOnStart) {
    const applied = await namingDatabase(db, () => migrateLatest(db));
    if (applied.length) log.info({ applied }, 'database migrated');
  } else {
    // a schema a newer version made is refused at start; a database that does not answer yet is
    // waited for as a standby (the check is then not made: the runs meet that database as it is)
    await refuseNewerSchema(db).catch((err: unknown) => {
      if (err instanceof ConfigError) throw err;
    });
  }
}

/**
 * The daemon as a process: schedules, lease, optional HTTP endpoint, until SIGTERM/SIGINT. The
 * first signal stops new runs and aborts the current one at its next safe point, waiting at most
 * daemon.shutdownTimeoutSeconds; a second signal exits at once. Resolves with the exit code after
 * closing everything (the app included); exits the process itself when a step had to be abandoned.
 */
export async function runDaemonService(app: App, options: ServiceOptions = {}): Promise<number> {
  const { config, db, log } = app;
  const shutdown = new AbortController();
  const jobs = (options.makeJobs ?? ((signal) => makeProductionJobs(app, { signal })))(shutdown.signal);
  const daemon = makeDaemon({ db, config, log, jobs, keyExpiries: (now) => everyBureauKeyExpiries(config, now) });
  const page = config.http.enabled
    ? statusRoutes(makeStatusData({ db, config, health: () => daemon.health(), command: `bureau-exchange --config ${shellWord(config.configFile)}` }), { token: statusTokenFromEnv(), hosts: [config.http.host] })
    : undefined;
  const http = config.http.enabled
    ? await startHttpServer(config.http, { health: () => daemon.health(), registry: daemon.metrics.registry, log, page })
    : undefined;
  let exitCode = 0;

  const stopped = new Promise<boolean>((resolve) => {
    const stop = (reason: string) => {
      if (shutdown.signal.aborted) return;
      shutdown.abort();
      void stopWithin(() => daemon.stop(reason), config.daemon.shutdownTimeoutSeconds * 1000, log).then(resolve);
    };
    onShutdownSignals({
      graceful: (signal) => stop(`${signal} received`),
      forced: (signal) => {
        log.error({ signal }, 'second signal: exiting now; unfinished steps resume at the next start');
        exitNow(1);
      },
    });
    // a bug (a rejection nobody awaits, a throw out of a timer or an event): Node's own handler would
    // print it raw (a PAN in the message reaches the journal) and exit with the lease still held
    const unexpected = (err: unknown) => {
      log.fatal({ error: messageOf(err) }, 'unexpected error: stopping');
      exitCode = 1;
      stop('unexpected error');
    };
    process.on('unhandledRejection', unexpected);
    process.on('uncaughtException', unexpected);
  });

  daemon.start();
  const finished = await stopped;
  await http?.close();
  if (!finished) exitNow(exitCode); // a step is still running: do not wait for it, the next start resumes it
  await app.close();
  log.info({ exitCode }, 'exiting');
  // every timer and connection is closed by now; should a library keep a handle open, do not hang
  setTimeout(() => exitNow(exitCode), 2000).unref();
  return exitCode;

  function exitNow(code: number): never {
    log.flush();
    process.exit(code);
  }
}
