import type { App } from '../app.js';
import { makeReceiveJob } from '../inbound/receive-job.js';
import type { Clock, ReceiveJob, SendJob } from '../jobs.js';
import { makeSendJob } from '../outbound/send-job.js';
import { makeSftpTransport } from '../transport/sftp.js';

/**
 * The real send and receive jobs over the bureau's SFTP server. `signal` (shutdown) also stops
 * connection retries, so a daemon asked to stop does not sit in a backoff.
 */
export function makeProductionJobs(app: Pick<App, 'config' | 'db' | 'cipher' | 'log'>, deps: { signal?: AbortSignal; clock?: Clock } = {}): { send: SendJob; receive: ReceiveJob } {
  const { config, db, cipher, log } = app;
  const transport = makeSftpTransport(config.sftp, { log, signal: deps.signal });
  return {
    send: makeSendJob({ db, config, cipher, transport, log, clock: deps.clock }),
    receive: makeReceiveJob({ db, config, transport, log, clock: deps.clock }),
  };
}
