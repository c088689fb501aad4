import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError, TransientError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';

/** How often and how patiently to retry (config.sftp.retry has this shape). */
export interface RetryPolicy {
  /** total tries, the first included */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface RetryOptions {
  /** the table deciding what is worth another try */
  isTransient: (err: unknown) => boolean;
  log?: Logger;
  /** aborts the waiting between tries (graceful shutdown) */
  signal?: AbortSignal;
  /** what is being tried, for log lines and the final error */
  what?: string;
  /** injectable for tests */
  random?: () => number;
}

/**
 * Runs `fn` until it succeeds, a non-transient error occurs, or the attempts are used up; waits
 * between tries with exponential backoff and jitter. The final transient failure is rethrown as a
 * TransientError naming the number of attempts, with the last error as its cause.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, opts: RetryOptions): Promise<T> {
  const what = opts.what ?? 'operation';
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (!opts.isTransient(err)) throw err;
      if (attempt >= policy.attempts) {
        throw new TransientError(`${what} failed after ${attempt} attempt${attempt > 1 ? 's' : ''}: ${messageOf(err)}`, { cause: err });
      }
      const delayMs = backoffDelay(attempt, policy, opts.random);
      opts.log?.warn({ attempt, of: policy.attempts, delayMs, err: messageOf(err) }, `${what} failed, retrying`);
      await sleep(delayMs, undefined, { signal: opts.signal });
    }
  }
}

/**
 * Delay before try `attempt + 1`: base·2^(attempt-1), capped at maxDelayMs, then "equal jitter"
 * (between half and all of it) so that several runners do not retry in lockstep.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'ERR_SOCKET_CONNECTION_TIMEOUT',
]);
const TRANSIENT_MESSAGES = [
  /timed out while waiting for handshake/i,
  /connection lost before handshake/i,
  /keepalive timeout/i,
  /socket hang up/i,
  /remote host has reset the connection/i,
  /no response from server/i,
];

/**
 * The table of network errors worth retrying: connection refused/reset/timed out, DNS hiccups,
 * SSH handshake timeouts. Our own PermanentError and TransientError decide for themselves.
 */
export function isTransientNetworkError(err: unknown): boolean {
  if (err instanceof PermanentError) return false;
  if (err instanceof TransientError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  const message = messageOf(err);
  return TRANSIENT_MESSAGES.some((re) => re.test(message)) || [...TRANSIENT_CODES].some((c) => message.includes(c));
}
