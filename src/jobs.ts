/** What the daemon, run-once and the demo know of the two jobs. */
import { messageOf } from './errors.js';
import type { JobProgress } from './progress/job-progress.js';

export type Clock = () => Date;

export interface SendOptions {
  /** YYYY-MM-DD; default: today in the configured time zone */
  businessDate?: string;
  /** send even when the date is not a business day */
  force?: boolean;
  /** validate and render only: change nothing, upload nothing */
  dryRun?: boolean;
  /** abort at the next safe point (graceful shutdown) */
  signal?: AbortSignal;
  /** only carry unfinished batches forward; claim nothing new (daemon start-up before the cut-off) */
  resumeOnly?: boolean;
  /** advanced as cards are claimed and bytes uploaded, for whoever shows progress */
  progress?: JobProgress;
}

export interface SendResult {
  /** batches sent (or resumed and sent) in this run */
  batches: Array<{ fileName: string; records: number; state: string }>;
  cardsSent: number;
  /** contracts set Invalid in this run, with their reasons (PANs masked); at most the first 1000 */
  invalid: Array<{ contractNumber: string; plasticId: string; reason: string }>;
  /** how many contracts were set Invalid in this run (may exceed the listed ones) */
  invalidTotal?: number;
  /** set when the business date is not a business day and force was not given: nothing new was claimed */
  notBusinessDay?: string;
}

export interface ReceiveOptions {
  signal?: AbortSignal;
  /** advanced as reports are taken (bytes: their listed sizes), for whoever shows progress */
  progress?: JobProgress;
}

export interface ReceiveResult {
  applied: Array<{ remoteName: string; rejections: number; shipments: number; stockItems: number; anomalies: number }>;
  quarantined: Array<{ remoteName: string; reason: string }>;
  /** already applied before (same content hash): moved on, not applied again */
  duplicates: number;
}

export interface SendJob {
  run(options?: SendOptions): Promise<SendResult>;
}

export interface ReceiveJob {
  run(options?: ReceiveOptions): Promise<ReceiveResult>;
}

/** Invalid cards listed in a claim's outcome and a send's result: memory stays bounded even if every card is invalid. */
export const INVALID_LISTED = 1000;

/** Appends `more` to `list` while it holds fewer than INVALID_LISTED. */
export function listUpToLimit<T>(list: T[], more: readonly T[]): void {
  list.push(...more.slice(0, Math.max(0, INVALID_LISTED - list.length)));
}

/** Counts `count` Invalid cards into a send's result and lists the first of `cards`, up to INVALID_LISTED in all. */
export function noteInvalid(result: SendResult, cards: ReadonlyArray<{ contractNumber: string; plasticId: string; reason: string }>, count = cards.length): void {
  result.invalidTotal = (result.invalidTotal ?? 0) + count;
  const room = Math.max(0, INVALID_LISTED - result.invalid.length);
  listUpToLimit(result.invalid, cards.slice(0, room).map(({ contractNumber, plasticId, reason }) => ({ contractNumber, plasticId, reason })));
}

/** One bureau's job (send or receive), with the code of the bureau it serves. */
export interface BureauJob<O, R> {
  code: string;
  job: { run(options?: O): Promise<R> };
}

export type BureauOutcome<R> = { code: string; result: R } | { code: string; error: unknown };

/** Runs each bureau's job in turn, whatever the others did (until stopped); every outcome is returned, in order. */
export async function runEveryBureau<O extends { signal?: AbortSignal }, R>(jobs: ReadonlyArray<BureauJob<O, R>>, options: O): Promise<Array<BureauOutcome<R>>> {
  const outcomes: Array<BureauOutcome<R>> = [];
  for (const { code, job } of jobs) {
    if (options.signal?.aborted) break;
    try {
      outcomes.push({ code, result: await job.run(options) });
    } catch (error) {
      outcomes.push({ code, error });
    }
  }
  return outcomes;
}

/**
 * A run over several bureaus in which some failed. What the others did (reports applied, files sent)
 * rides on the error as their merged result, so that the run's record counts it rather than nothing.
 */
export class PartialRunError<R> extends Error {
  // named as a plain Error: the message names each bureau's failure, and nothing acts on the name
  constructor(message: string, readonly partial: R) {
    super(message);
  }
}

/**
 * One job over every bureau (the daemon's and run-once's send and receive): each bureau in turn, their
 * results merged; when any failed, it fails after all had their turn, naming each failure and
 * carrying the others' merged result (PartialRunError).
 */
export function everyBureauJob<O extends { signal?: AbortSignal }, R>(
  jobs: ReadonlyArray<BureauJob<O, R>>, merge: (results: R[]) => R,
): { run(options?: O): Promise<R> } {
  if (jobs.length === 1) return jobs[0]!.job;
  return {
    async run(options = {} as O): Promise<R> {
      const outcomes = await runEveryBureau(jobs, options);
      const failed = outcomes.filter((o): o is Extract<BureauOutcome<R>, { error: unknown }> => 'error' in o);
      const results = outcomes.filter((o): o is Extract<BureauOutcome<R>, { result: R }> => 'result' in o).map((o) => o.result);
      if (failed.length) throw new PartialRunError(failed.map((f) => `bureau ${f.code}: ${messageOf(f.error)}`).join('; '), merge(results));
      return merge(results);
    },
  };
}
