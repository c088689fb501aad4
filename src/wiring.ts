import type { App } from './app.js';
import type { Config } from './config/schema.js';
import { everyBureauReceive, receiveBureau, receiveBureaus, type ReceiveBureau } from './inbound/receive-bureau.js';
import { makeReceiveJob } from './inbound/receive-job.js';
import { everyBureauJob, type BureauJob, type Clock, type ReceiveJob, type ReceiveOptions, type ReceiveResult, type SendJob } from './jobs.js';
import { bureauConfig, sendBureaus, type SendBureau } from './outbound/bureau-config.js';
import { everyBureauSendJob, type BureauSendJob } from './outbound/every-bureau.js';
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

/** The first bureau's SFTP server as configured (or the one of the config given). */
export function productionTransport(app: Pick<App, 'config' | 'log'>, deps: WiringDeps = {}, config: Config = app.config): Transport {
  return makeSftpTransport(config.sftp, { log: app.log, env: deps.env, signal: deps.signal });
}

/** The send job of one bureau (default the first), over that bureau's SFTP server. */
export function productionSendJob(
  app: JobApp, deps: WiringDeps = {}, transport?: Transport, bureau: SendBureau = bureauConfig(app.config, app.config.bureaus[0]!.code),
): SendJob {
  const { config, db, cipher, log } = app;
  return makeSendJob({ db, config, bureau, cipher, transport: transport ?? productionTransport(app, deps, bureau.config), log, clock: deps.clock });
}

/** One send job per configured bureau, in config order; the first bureau's over `firstTransport` when given. */
export function productionSendJobs(app: JobApp, deps: WiringDeps = {}, firstTransport?: Transport): Array<BureauSendJob & { bureau: SendBureau }> {
  return sendBureaus(app.config).map((bureau, i) => ({
    code: bureau.code, bureau, job: productionSendJob(app, deps, i === 0 ? firstTransport : undefined, bureau),
  }));
}

/** The receive job of one bureau (default the first), over that bureau's SFTP server. */
export function productionReceiveJob(
  app: Omit<JobApp, 'cipher'>, deps: WiringDeps = {}, transport?: Transport, bureau: ReceiveBureau = receiveBureau(app.config),
): ReceiveJob {
  const { config, db, log } = app;
  return makeReceiveJob({ db, config, bureau, transport: transport ?? productionTransport(app, deps, bureau.config), log, clock: deps.clock });
}

/** One receive job per configured bureau, in config order; the first bureau's over `firstTransport` when given. */
export function productionReceiveJobs(
  app: Omit<JobApp, 'cipher'>, deps: WiringDeps = {}, firstTransport?: Transport,
): Array<BureauJob<ReceiveOptions, ReceiveResult> & { bureau: ReceiveBureau }> {
  return receiveBureaus(app.config).map((bureau, i) => ({
    code: bureau.code, bureau, job: productionReceiveJob(app, deps, i === 0 ? firstTransport : undefined, bureau),
  }));
}

/**
 * The real send and receive jobs. Each serves every configured bureau in turn (with one bureau, exactly
 * its job), or only the bureau `only` names; `sendPerBureau` holds each bureau's own send, which the
 * daemon runs at that bureau's cut-offs, and `receivePerBureau` each bureau's own receive, whose
 * reports the daemon counts under that bureau. The first bureau's send and receive share one SFTP transport.
 */
export function makeProductionJobs(app: JobApp, deps: WiringDeps = {}, only?: string): {
  send: SendJob; receive: ReceiveJob; sendPerBureau: BureauSendJob[]; receivePerBureau: Array<BureauJob<ReceiveOptions, ReceiveResult>>;
} {
  const transport = productionTransport(app, deps);
  const pick = <J extends { code: string }>(jobs: J[]) => (only === undefined ? jobs : jobs.filter((j) => j.code === only));
  const sendPerBureau = pick(productionSendJobs(app, deps, transport));
  const receivePerBureau = pick(productionReceiveJobs(app, deps, transport));
  return {
    send: everyBureauSendJob(sendPerBureau),
    receive: everyBureauReceive(receivePerBureau),
    sendPerBureau,
    receivePerBureau,
  };
}
