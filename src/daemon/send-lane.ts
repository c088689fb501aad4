import type { Config } from '../config/schema.js';
import { ConfigError, PermanentError, messageOf } from '../errors.js';
import type { Clock, SendOptions, SendResult } from '../jobs.js';
import type { Logger } from '../log.js';
import type { JobRunner } from './job-runner.js';
import type { SchedulePlan } from './plan.js';

/** What the scheduler reads of one bureau's batches to resume and catch up. */
export interface BatchProgress {
  /** business dates of the bureau's batches not yet sent (claimed, encrypted or uploaded), oldest first */
  unfinishedDates(): Promise<string[]>;
  /** true when a batch of the bureau for the business date reached it at or after `since` */
  hasSentBatch(businessDate: string, since: Date): Promise<boolean>;
}

/** One bureau's send as the scheduler drives it: its own cut-offs, runner (and so lease) and batches. */
export interface SendLaneDeps {
  code: string;
  plan: SchedulePlan;
  runner: JobRunner<SendOptions, SendResult>;
  batches: BatchProgress;
}

export interface SendLane {
  readonly code: string;
  readonly runner: JobRunner<SendOptions, SendResult>;
  /** at activation: the resume or catch-up this bureau needs, if any */
  startupRequest(now: Date): Promise<SendRequest | undefined>;
  /** fires this bureau's cut-offs in (from, to] and a retry that is due */
  tick(from: Date, to: Date): void;
  request(request: SendRequest): void;
  /** forgets what waits (a pending send, a planned retry) */
  reset(): void;
}

export interface SendRequest {
  reason: string;
  options: SendOptions;
}

const MAX_SEND_RETRY_MS = 30 * 60_000;

/**
 * One bureau's sends. A send due while this bureau's send runs waits for it and runs right after (a
 * cut-off must not be lost); a send that failed for a reason that may pass is tried again with a
 * doubling delay. Each bureau has its own lane: one bureau's slow upload or outage holds only its own.
 */
export function makeSendLane(deps: SendLaneDeps, shared: {
  schedule: Config['schedule'];
  clock: Clock;
  log: Logger;
  sendRetryBaseMs: number;
  active(): boolean;
  track(run: Promise<unknown>): void;
}): SendLane {
  const { plan, runner, batches } = deps;
  const { clock } = shared;
  const log = shared.log.child({ bureau: deps.code });
  let pending: SendRequest | undefined;
  let retry: { request: SendRequest; original: SendRequest; at: number; attempt: number; delayMs: number } | undefined;

  function request(req: SendRequest): void {
    if (!shared.active()) return;
    if (runner.busy()) {
      if (pending) log.info({ replaced: pending.reason, by: req.reason }, 'a send was already waiting: the later one runs instead');
      pending = req;
      log.info({ reason: req.reason, businessDate: req.options.businessDate }, 'send waits for the running send to finish');
      return;
    }
    shared.track(runner.trigger(req.reason, req.options).then((record) => {
      if (record) planRetry(req, record.error, record.aborted);
      const next = pending;
      pending = undefined;
      if (next) request(next);
    }));
  }

  function planRetry(req: SendRequest, error: unknown, aborted: boolean): void {
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
    const delayMs = Math.min(shared.sendRetryBaseMs * 2 ** (attempt - 1), MAX_SEND_RETRY_MS);
    // a retry goes on retrying its cut-off; a later cut-off that failed too is the one to retry now
    // (its business date: the cards marked since go in its file, not in one dated the day before)
    const original = retry && req === retry.request ? retry.original : req;
    retry = { request: { reason: `retry ${attempt} of ${original.reason}`, options: original.options }, original, at: clock().getTime() + delayMs, attempt, delayMs };
    log.warn({ attempt, inSeconds: Math.round(delayMs / 1000) }, 'send will be tried again');
  }

  /**
   * At activation: one send run when this bureau's batches are unfinished (a crash mid-run) or, with
   * catchUp, when its last cut-off passed without a batch sent since. A send run always carries
   * unfinished batches forward first; only a catch-up also sends what is marked, for the last cut-off's business date.
   */
  async function startupRequest(now: Date): Promise<SendRequest | undefined> {
    const last = plan.lastCutOff(now);
    const unfinished = await batches.unfinishedDates();
    const missed = shared.schedule.catchUp && !(await batches.hasSentBatch(last.date, last.at));
    if (unfinished.length) log.info({ businessDates: unfinished }, 'unfinished batches found: resuming them');
    if (missed) log.info({ businessDate: last.date, cutOff: last.at.toISOString() }, 'cut-off passed without a batch sent since: catching up');
    if (!unfinished.length && !missed) return undefined;
    const reason = [unfinished.length ? 'resume' : '', missed ? 'catch-up' : ''].filter(Boolean).join(' and ');
    // a resume alone must not send cards marked since the last cut-off: they wait for the next one
    return { reason, options: { businessDate: last.date, ...(missed ? {} : { resumeOnly: true }) } };
  }

  return {
    code: deps.code,
    runner,
    startupRequest,
    request,
    tick(from, to) {
      const slots = plan.sendSlotsBetween(from, to);
      for (const slot of slots) {
        if (slot.notBusiness) log.info({ date: slot.date, cutOff: slot.time, why: slot.notBusiness }, 'no send: not a business day');
      }
      // a window holds several cut-offs only after a suspension (a VM, SIGSTOP, a blocked loop): as a
      // catch-up does, one send for the latest; a send per passed day would put every card marked
      // since in a file dated the first of them
      const business = slots.filter((slot) => !slot.notBusiness);
      const latest = business.at(-1);
      if (business.length > 1) log.warn({ passed: business.map((s) => `${s.date} ${s.time}`) }, 'several cut-offs passed at once (the process was suspended): one send, for the latest');
      if (latest) request({ reason: `cut-off ${latest.time}`, options: { businessDate: latest.date } });
      // a clock stepped back must not put a retry off by the step: never further away than its delay
      if (retry) retry.at = Math.min(retry.at, to.getTime() + retry.delayMs);
      if (retry && retry.at <= to.getTime() && !runner.busy() && !pending) request(retry.request);
    },
    reset() {
      pending = undefined;
      retry = undefined;
    },
  };
}
