// One bureau of the config as the receive job sees it: the bureau's view of the config
// (config/bureau-view.ts) with the lease its receive holds.
import { bureauView, bureauViews, jobNameFor, type BureauView } from '../config/bureau-view.js';
import type { Config } from '../config/schema.js';
import { everyBureauJob, type BureauJob, type ReceiveJob, type ReceiveOptions, type ReceiveResult } from '../jobs.js';

export const RECEIVE_LEASE = 'receive';

/** What a receive job knows of the bureau it serves: its SFTP account and folders, report keys and pins, in `config`. */
export interface ReceiveBureau extends BureauView {
  /** the lease its runs hold, and their name in the history: `receive` for the first bureau, `receive:<CODE>` for the others */
  lease: string;
}

/** The bureau `code` of the config (default the first), as its receive reads it. */
export function receiveBureau(config: Config, code = config.bureaus[0]!.code): ReceiveBureau {
  const view = bureauView(config, code);
  return { ...view, lease: jobNameFor(view, RECEIVE_LEASE) };
}

/** Every configured bureau, in config order. */
export function receiveBureaus(config: Config): ReceiveBureau[] {
  return bureauViews(config).map((view) => ({ ...view, lease: jobNameFor(view, RECEIVE_LEASE) }));
}

/** The results of several bureaus' receives as one. */
export function mergeReceiveResults(results: readonly ReceiveResult[]): ReceiveResult {
  const merged: ReceiveResult = { applied: [], quarantined: [], duplicates: 0 };
  for (const r of results) {
    merged.applied.push(...r.applied);
    merged.quarantined.push(...r.quarantined);
    merged.duplicates += r.duplicates;
  }
  return merged;
}

/** Told each bureau's result as its receive ends (counters, alerts). */
export type OnBureauReceived = (result: ReceiveResult, bureau: string) => void | Promise<void>;

/**
 * One receive over every bureau in turn, their results merged (jobs.ts, everyBureauJob). `onReceived`
 * hears each bureau's result as soon as its turn ends: a later bureau's failure, which fails the run,
 * does not hide the reports an earlier one applied or quarantined.
 */
export function everyBureauReceive(jobs: ReadonlyArray<BureauJob<ReceiveOptions, ReceiveResult>>, onReceived?: OnBureauReceived): ReceiveJob {
  return everyBureauJob(jobs.map(({ code, job }) => ({
    code,
    job: {
      async run(options?: ReceiveOptions): Promise<ReceiveResult> {
        const result = await job.run(options);
        await onReceived?.(result, code);
        return result;
      },
    },
  })), mergeReceiveResults);
}
