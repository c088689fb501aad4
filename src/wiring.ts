import type { App } from './app.js';
import { makeReceiveJob } from './inbound/receive-job.js';
import type { Clock, ReceiveJob, SendJob } from './jobs.js';
import { makeSendJob } from './outbound/send-job.js';
import type { Transport } from './transport/remote.js';
import { makeSftpTransport } from './transport/sftp.js';

/** The one place the real jobs are built, for every entry point (send, receive, run-once, daemon, demo). */
export interface WiringDeps {
  /** shutdown: also stops connection retries, so a runner asked to stop does not sit in a backoff */
  signal?: AbortSignal;
  clock?: Clock;
  /** where the SFTP secrets named in config are read; default process.env (the demo's sandbox has its own .env) */
  env?: NodeJS.ProcessEnv;
}

type JobApp = Pick<App, 'config' | 'db' | 'cipher' | 'log'>;

/** The bureau's SFTP server as configured. */
export function productionTransport(app: Pick<App, 'config' | 'log'>, deps: WiringDeps = {}): Transport {
  return makeSftpTransport(app.config.sftp, { log: app.log, env: deps.env, signal: deps.signal });
}

export function productionSendJob(app: JobApp, deps: WiringDeps = {}, transport = productionTransport(app, deps)): SendJob {
  const { config, db, cipher, log } = app;
  return makeSendJob({ db, config, cipher, transport, log, clock: deps.clock });
}

export function productionReceiveJob(app: Omit<JobApp, 'cipher'>, deps: WiringDeps = {}, transport = productionTransport(app, deps)): ReceiveJob {
  const { config, db, log } = app;
  return makeReceiveJob({ db, config, transport, log, clock: deps.clock });
}

/** The real send and receive jobs over one SFTP transport. */
export function makeProductionJobs(app: JobApp, deps: WiringDeps = {}): { send: SendJob; receive: ReceiveJob } {
  const transport = productionTransport(app, deps);
  return { send: productionSendJob(app, deps, transport), receive: productionReceiveJob(app, deps, transport) };
}
