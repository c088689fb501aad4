import type { Db } from '../db/connection.js';
import { closeInterruptedRuns, finishRun, recordSkippedRun, startRun, type RunEnd, type RunTrigger } from '../db/runs.js';
import { messageOf } from '../errors.js';
import type { ReceiveResult, SendResult } from '../jobs.js';
import { scrub, type Logger } from '../log.js';

/** What a finished run did, in the history's terms. */
export interface RunCounts {
  /** nothing to report as wrong, but something left for a person (Invalid cards, a quarantined report) */
  partial: boolean;
  /** a send on a day that is not a business day: nothing claimed */
  skipped?: boolean;
  cardsSent?: number;
  invalid?: number;
  reportsApplied?: number;
  reportsQuarantined?: number;
  fileNames: string[];
}

export function sendRunCounts(r: SendResult): RunCounts {
  const invalid = r.invalidTotal ?? r.invalid.length;
  return {
    partial: invalid > 0, skipped: Boolean(r.notBusinessDay) && r.batches.length === 0,
    cardsSent: r.cardsSent, invalid, fileNames: r.batches.map((b) => b.fileName),
  };
}

export function receiveRunCounts(r: ReceiveResult): RunCounts {
  return {
    partial: r.quarantined.length > 0, reportsApplied: r.applied.length, reportsQuarantined: r.quarantined.length,
    fileNames: [...r.applied.map((a) => a.remoteName), ...r.quarantined.map((q) => q.remoteName)],
  };
}

/** The kind of trigger behind a runner's reason ("cut-off 16:00", "retry 1 of …", "resume and catch-up", "poll", "manual"). */
export function triggerOf(reason: string): RunTrigger {
  if (reason === 'manual') return 'manual';
  if (reason.startsWith('retry ')) return 'retry';
  if (/catch-up|resume/.test(reason)) return 'catch-up';
  return 'schedule';
}

export interface RunHistory {
  /** the new run's id, or undefined when it could not be written (the run goes on) */
  started(run: { job: string; reason: string; startedAt: Date; businessDate?: string }): Promise<number | undefined>;
  finished(id: number | undefined, end: { job: string; startedAt: Date; finishedAt: Date; durationMs: number; counts?: RunCounts; error?: unknown; aborted: boolean }): Promise<void>;
  /** a trigger refused because a run of the job was still going */
  skipped(run: { job: string; reason: string; at: Date }): Promise<void>;
}

/**
 * Writes every run to job_runs. A history that cannot be written (database down) never stops or
 * fails a run: it is logged. Errors are stored scrubbed, never with a PAN.
 */
export function makeRunHistory(deps: { db: Db; runner: string; log: Logger }): RunHistory {
  const { db, runner, log } = deps;
  const quietly = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (err) {
      log.warn({ error: messageOf(err) }, `run history: could not record ${what}`);
      return undefined;
    }
  };
  return {
    started: ({ job, reason, startedAt, businessDate }) => quietly('the start of a run', () =>
      startRun(db, { job, reason, trigger: triggerOf(reason), runner, businessDate, startedAt: startedAt.toISOString() })),

    async finished(id, { job, startedAt, finishedAt, durationMs, counts, error, aborted }) {
      if (id === undefined) return;
      const end: RunEnd = {
        outcome: error !== undefined ? 'failed' : counts?.skipped ? 'skipped' : counts?.partial ? 'partial' : 'ok',
        finishedAt: finishedAt.toISOString(), durationMs,
        cardsSent: counts?.cardsSent, invalid: counts?.invalid, reportsApplied: counts?.reportsApplied,
        reportsQuarantined: counts?.reportsQuarantined, fileNames: counts?.fileNames,
        error: error === undefined ? undefined : scrub(`${aborted ? 'aborted: ' : ''}${messageOf(error)}`).slice(0, 2000),
      };
      await quietly('the end of a run', () => finishRun(db, id, end));
      // this run held the job's lease to the end: an older run still 'running' has no process left
      if (end.outcome === 'ok' || end.outcome === 'partial') {
        await quietly('interrupted runs', () => closeInterruptedRuns(db, job, startedAt.toISOString(), id, end.finishedAt));
      }
    },

    async skipped({ job, reason, at }) {
      await quietly('a skipped run', () => recordSkippedRun(db, { job, reason, trigger: triggerOf(reason), runner, startedAt: at.toISOString() }, 'the previous run was still going'));
    },
  };
}
