import type { Alert, Alerter } from '../../src/daemon/alerts.js';
import type { ReceiveJob, ReceiveOptions, ReceiveResult, SendJob, SendOptions, SendResult } from '../../src/jobs.js';

/** A promise the test resolves when it wants. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A clock the test moves by hand. */
export function manualClock(start: string) {
  let now = new Date(start);
  const clock = () => new Date(now);
  return Object.assign(clock, {
    set: (iso: string) => { now = new Date(iso); },
    advance: (ms: number) => { now = new Date(now.getTime() + ms); },
  });
}

/** An alerter that keeps every alert it is given in `into`, each counted as delivered. */
export function recordingAlerter(into: Alert[]): Alerter {
  return {
    async send(alert) {
      into.push(alert);
      return true;
    },
  };
}

export const emptySend = (): SendResult => ({ batches: [], cardsSent: 0, invalid: [] });
export const emptyReceive = (): ReceiveResult => ({ applied: [], quarantined: [], duplicates: 0 });

/**
 * A job that records each call (the options it got) and, when `hold` is on, stays running until the
 * test releases it (or the run is aborted); with `fail` set it throws that: enough to observe what the
 * scheduler asks for and when.
 */
function recordingJob<O extends { signal?: AbortSignal }, R>(result: () => R | Promise<R>) {
  const calls: O[] = [];
  let gate: ReturnType<typeof deferred> | undefined;
  const job = {
    calls,
    fail: undefined as Error | undefined,
    async run(options: O = {} as O): Promise<R> {
      calls.push(options);
      if (gate) await Promise.race([gate.promise, aborted(options.signal)]);
      if (job.fail) throw job.fail;
      return result();
    },
    hold() { gate = deferred(); },
    release() { gate?.resolve(undefined); gate = undefined; },
  };
  return job;
}

export function recordingSendJob(result: () => SendResult | Promise<SendResult> = emptySend) {
  return recordingJob<SendOptions, SendResult>(result) satisfies SendJob;
}

export function recordingReceiveJob(result: () => ReceiveResult | Promise<ReceiveResult> = emptyReceive) {
  return recordingJob<ReceiveOptions, ReceiveResult>(result) satisfies ReceiveJob;
}

/** Rejects when the signal aborts (as a real job does at its next safe point). */
function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
