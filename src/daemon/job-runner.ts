import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { PartialRunError } from '../jobs.js';
import type { RunCounts, RunHistory } from './run-history.js';

/** What a finished run reports to the daemon (metrics, health, alerts). */
export interface RunRecord<R> {
  job: string;
  /** why it ran: a schedule slot, catch-up, resume… */
  reason: string;
  startedAt: Date;
  /** by the daemon's clock, like startedAt (durationMs is measured, not a difference of clock times) */
  finishedAt: Date;
  durationMs: number;
  result?: R;
  error?: unknown;
  /** the run failed after it was asked to abort (shutdown, lost lease) */
  aborted: boolean;
}

export interface JobRunner<O, R> {
  readonly name: string;
  /** Starts a run unless one is going; resolves when it ends (undefined when skipped as an overlap). */
  trigger(reason: string, options?: O): Promise<RunRecord<R> | undefined>;
  /** true while a run is going */
  busy(): boolean;
  /** Aborts the current run at its next safe point (its AbortSignal fires). */
  abort(reason: string): void;
  /** Resolves when no run is going (never rejects). */
  idle(): Promise<void>;
}

export interface JobRunnerDeps<O, R> {
  name: string;
  run(options: O & { signal: AbortSignal }): Promise<R>;
  log: Logger;
  clock: () => Date;
  /** called after every run, success or failure */
  onFinished?(record: RunRecord<R>): void | Promise<void>;
  /** counts and the like for the log line of a finished run */
  summarize?(result: R): Record<string, unknown>;
  /** where every run is recorded (job_runs), with the counts of its result */
  history?: { record: RunHistory; counts(result: R): RunCounts };
}

/**
 * Runs one job with no overlap: a trigger while a run is going is skipped (logged), not queued.
 * The runner keeps the promise of the running job, so shutdown can wait for it (the ticker's stop()
 * does not), and an AbortController per run, so shutdown can ask it to stop at a safe point.
 * It is the one place every run goes through, the daemon's and the CLI's (send, receive,
 * run-once), so it is where the run history is written.
 */
export function makeJobRunner<O extends object, R>(deps: JobRunnerDeps<O, R>): JobRunner<O, R> {
  let current: { promise: Promise<RunRecord<R>>; controller: AbortController } | undefined;

  async function execute(reason: string, options: O, controller: AbortController): Promise<RunRecord<R>> {
    const startedAt = deps.clock();
    const started = performance.now();
    const log = deps.log.child({ job: deps.name, reason });
    log.info('run started');
    const record: RunRecord<R> = { job: deps.name, reason, startedAt, finishedAt: startedAt, durationMs: 0, aborted: false };
    const businessDate = (options as { businessDate?: string }).businessDate;
    // without a history the run starts in this very call, as the scheduler's callers expect
    const runId = deps.history ? await deps.history.record.started({ job: deps.name, reason, startedAt, businessDate }) : undefined;
    try {
      record.result = await deps.run({ ...options, signal: controller.signal });
    } catch (err) {
      record.error = err;
      // some bureaus failed: the run failed, and what the others did still counts in its record
      if (err instanceof PartialRunError) record.result = err.partial as R;
    }
    record.durationMs = Math.round(performance.now() - started);
    record.finishedAt = deps.clock();
    // a run that returned normally after the abort stopped at a safe point: its result counts
    record.aborted = controller.signal.aborted && record.error !== undefined;
    if (record.error === undefined) {
      log.info({ durationMs: record.durationMs, ...(deps.summarize?.(record.result as R) ?? {}) }, 'run finished');
    } else if (record.aborted) {
      log.warn({ durationMs: record.durationMs, error: messageOf(record.error) }, 'run aborted');
    } else {
      log.error({ durationMs: record.durationMs, error: messageOf(record.error) }, 'run failed');
    }
    const counts = record.result === undefined || !deps.history ? undefined : deps.history.counts(record.result);
    if (deps.history) await deps.history.record.finished(runId, { ...record, counts });
    try {
      await deps.onFinished?.(record);
    } catch (err) {
      log.error({ error: messageOf(err) }, 'after-run handling failed');
    }
    return record;
  }

  return {
    name: deps.name,
    trigger(reason, options = {} as O) {
      if (current) {
        deps.log.warn({ job: deps.name, reason }, 'previous run still going: this run is skipped');
        void deps.history?.record.skipped({ job: deps.name, reason, at: deps.clock() });
        return Promise.resolve(undefined);
      }
      const controller = new AbortController();
      const promise = execute(reason, options, controller).finally(() => {
        current = undefined;
      });
      current = { promise, controller };
      return promise;
    },
    busy: () => current !== undefined,
    abort(reason) {
      if (current && !current.controller.signal.aborted) {
        deps.log.warn({ job: deps.name, reason }, 'aborting the current run at its next safe point');
        current.controller.abort(new Error(reason));
      }
    },
    async idle() {
      await current?.promise;
    },
  };
}
