// The send of several bureaus in turn (jobs.ts, runEveryBureau): one bureau failing does not keep the others from sending.
import { everyBureauJob, listUpToLimit, runEveryBureau, type BureauJob, type BureauOutcome, type SendJob, type SendOptions, type SendResult } from '../jobs.js';

/** One bureau's send job, with the code it is known by. */
export type BureauSendJob = BureauJob<SendOptions, SendResult>;

export type BureauSendOutcome = BureauOutcome<SendResult>;

/** Runs each bureau's send in turn, whatever the others did; every outcome is returned, in order. */
export function sendEveryBureau(jobs: readonly BureauSendJob[], options: SendOptions = {}): Promise<BureauSendOutcome[]> {
  return runEveryBureau(jobs, options);
}

/**
 * One SendJob over every bureau (the daemon's and run-once's send): each bureau in turn, their results
 * added up; when any failed, it fails after all had their turn, naming each failure.
 */
export function everyBureauSendJob(jobs: readonly BureauSendJob[]): SendJob {
  return everyBureauJob(jobs, mergeResults);
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
