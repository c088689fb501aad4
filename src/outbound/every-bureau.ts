// The send of several bureaus in turn: one bureau failing does not keep the others from sending.
import { messageOf } from '../errors.js';
import type { SendJob, SendOptions, SendResult } from '../jobs.js';
import { listUpToLimit } from '../jobs.js';

/** One bureau's send job, with the code it is known by. */
export interface BureauSendJob {
  code: string;
  job: SendJob;
}

export type BureauSendOutcome = { code: string; result: SendResult } | { code: string; error: unknown };

/** Runs each bureau's send in turn, whatever the others did; every outcome is returned, in order. */
export async function sendEveryBureau(jobs: readonly BureauSendJob[], options: SendOptions = {}): Promise<BureauSendOutcome[]> {
  const outcomes: BureauSendOutcome[] = [];
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
 * One SendJob over every bureau (the daemon's and run-once's send): each bureau in turn, their results
 * added up; when any failed, it fails after all had their turn, naming each failure.
 */
export function everyBureauSendJob(jobs: readonly BureauSendJob[]): SendJob {
  if (jobs.length === 1) return jobs[0]!.job;
  return {
    async run(options?: SendOptions): Promise<SendResult> {
      const outcomes = await sendEveryBureau(jobs, options);
      const failed = outcomes.filter((o): o is Extract<BureauSendOutcome, { error: unknown }> => 'error' in o);
      if (failed.length) throw new Error(failed.map((f) => `bureau ${f.code}: ${messageOf(f.error)}`).join('; '));
      return mergeResults(outcomes.map((o) => (o as { result: SendResult }).result));
    },
  };
}

/** The results of several bureaus' sends as one. */
export function mergeResults(results: readonly SendResult[]): SendResult {
  const merged: SendResult = { batches: [], cardsSent: 0, invalid: [], invalidTotal: 0 };
  for (const r of results) {
    merged.batches.push(...r.batches);
    merged.cardsSent += r.cardsSent;
    listUpToLimit(merged.invalid, r.invalid);
    merged.invalidTotal! += r.invalidTotal ?? r.invalid.length;
    if (r.notBusinessDay) merged.notBusinessDay = r.notBusinessDay;
  }
  return merged;
}
