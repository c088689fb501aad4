import type { Config } from '../config/schema.js';
import { ConfigError, PermanentError, messageOf } from '../errors.js';
import type { Clock, ReceiveOptions, ReceiveResult, SendOptions, SendResult } from '../jobs.js';
import type { Logger } from '../log.js';
import type { JobRunner } from './job-runner.js';
import type { SchedulePlan } from './plan.js';

/** What the scheduler reads of the batches table to resume and catch up. */
export interface BatchProgress {
  /** business dates of batches not yet sent (claimed, encrypted or uploaded), oldest first */
  unfinishedDates(): Promise<string[]>;
  /** true when a batch of the business date reached the bureau at or after `since` */
  hasSentBatch(businessDate: string, since: Date): Promise<boolean>;
}

export interface SchedulerDeps {
  plan: SchedulePlan;
  schedule: Config['schedule'];
  clock: Clock;
  log: Logger;
  send: JobRunner<SendOptions, SendResult>;
  receive: JobRunner<ReceiveOptions, ReceiveResult>;
  batches: BatchProgress;
  /** first delay before a failed send is tried again; doubles per failure up to 30 min */
  sendRetryBaseMs: number;
}

const MAX_SEND_RETRY_MS = 30 * 60_000;

/**
 * Decides when the jobs run while this daemon is the active runner. `tick()` is called every
 * 10 seconds (node-cron) and looks at the whole window since the previous tick, so a delayed tick
 * still fires the cut-off it passed. A send due while a send is running waits for it and runs
 * right after (a cut-off must not be lost); a receive poll due during a receive is skipped. A send
 * that failed for a reason that may pass (network, a dead runner's lease not yet expired) is tried
 * again with a doubling delay until one succeeds: claimed cards must not wait for the next cut-off.
 */
export interface Scheduler {
  /** becomes active: resumes unfinished batches, catches up a missed cut-off, then ticks count */
  activate(): Promise<void>;
  /** fires what is due since the previous tick */
  tick(): void;
  /** no new runs; aborts the running ones at their next safe point and waits for them */
  deactivate(reason: string): Promise<void>;
  /** the send and receive runs started so far and not finished (for tests and shutdown) */
  settled(): Promise<void>;
}

interface SendRequest {
  reason: string;
  options: SendOptions;
}

export function makeScheduler(deps: SchedulerDeps): Scheduler {
  const { plan, clock, log, send, receive } = deps;
  let active = false;
  let lastTick = clock();
  let pendingSend: SendRequest | undefined;
  let retry: { request: SendRequest; at: number; attempt: number } | undefined;
  const running = new Set<Promise<unknown>>();

  function track(promise: Promise<unknown>): void {
    running.add(promise);
    void promise.finally(() => running.delete(promise));
  }

  function requestSend(request: SendRequest): void {
    if (!active) return;
    if (send.busy()) {
      if (pendingSend) log.info({ replaced: pendingSend.reason, by: request.reason }, 'a send was already waiting: the later one runs instead');
      pendingSend = request;
      log.info({ reason: request.reason, businessDate: request.options.businessDate }, 'send waits for the running send to finish');
      return;
    }
    const run = send.trigger(request.reason, request.options).then((record) => {
      if (record) planRetry(request, record.error, record.aborted);
      const next = pendingSend;
      pendingSend = undefined;
      if (next) requestSend(next);
    });
    track(run);
  }

  function planRetry(request: SendRequest, error: unknown, aborted: boolean): void {
    if (error === undefined || aborted) {
      retry = undefined;
      return;
    }
    if (error instanceof PermanentError || error instanceof ConfigError) {
      retry = undefined;
      log.error({ error: messageOf(error) }, 'send failed for a reason a retry cannot fix: not retried before the next cut-off');
      return;
    }
    const attempt = (retry?.attempt ?? 0) + 1;
    const delayMs = Math.min(deps.sendRetryBaseMs * 2 ** (attempt - 1), MAX_SEND_RETRY_MS);
    const original = retry?.request ?? request;
    retry = { request: { reason: `retry ${attempt} of ${original.reason.replace(/^retry \d+ of /, '')}`, options: original.options }, at: clock().getTime() + delayMs, attempt };
    log.warn({ attempt, inSeconds: Math.round(delayMs / 1000) }, 'send will be tried again');
  }

  function requestReceive(reason: string): void {
    if (!active) return;
    track(receive.trigger(reason));
  }

  /**
   * At activation: one send run when batches are unfinished (a crash mid-run) or, with catchUp,
   * when the last cut-off passed without a batch sent since. A send run always carries unfinished
   * batches forward first; only a catch-up also sends what is marked, for the last cut-off's business date.
   */
  async function startupSend(now: Date): Promise<SendRequest | undefined> {
    const last = plan.lastCutOff(now);
    const unfinished = await deps.batches.unfinishedDates();
    const missed = deps.schedule.catchUp && !(await deps.batches.hasSentBatch(last.date, last.at));
    if (unfinished.length) log.info({ businessDates: unfinished }, 'unfinished batches found: resuming them');
    if (missed) log.info({ businessDate: last.date, cutOff: last.at.toISOString() }, 'cut-off passed without a batch sent since: catching up');
    if (!unfinished.length && !missed) return undefined;
    const reason = [unfinished.length ? 'resume' : '', missed ? 'catch-up' : ''].filter(Boolean).join(' and ');
    // a resume alone must not send cards marked since the last cut-off: they wait for the next one
    return { reason, options: { businessDate: last.date, ...(missed ? {} : { resumeOnly: true }) } };
  }

  return {
    async activate() {
      const now = clock();
      lastTick = now;
      const startup = await startupSend(now);
      active = true;
      if (startup) requestSend(startup);
      requestReceive('start');
    },

    tick() {
      const now = clock();
      const from = lastTick;
      if (now <= from) return;
      lastTick = now;
      if (!active) return;
      for (const slot of plan.sendSlotsBetween(from, now)) {
        if (slot.notBusiness) log.info({ date: slot.date, cutOff: slot.time, why: slot.notBusiness }, 'no send: not a business day');
        else requestSend({ reason: `cut-off ${slot.time}`, options: { businessDate: slot.date } });
      }
      if (retry && retry.at <= now.getTime() && !send.busy() && !pendingSend) requestSend(retry.request);
      if (plan.receiveDueBetween(from, now)) requestReceive('poll');
    },

    async deactivate(reason) {
      active = false;
      pendingSend = undefined;
      retry = undefined;
      send.abort(reason);
      receive.abort(reason);
      await Promise.all([send.idle(), receive.idle()]);
    },

    async settled() {
      while (running.size) await Promise.all([...running]);
    },
  };
}
