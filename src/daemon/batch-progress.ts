import type { Db } from '../db/connection.js';
import { hasSentBatchSince, unfinishedBatches } from '../db/batches.js';
import type { BureauScope } from '../db/bureau-scope.js';
import type { BatchProgress } from './send-lane.js';

/** What the scheduler reads of perso_batches for one bureau (every bureau's when none is given). */
export function batchProgressOf(db: Db, bureau?: BureauScope): BatchProgress {
  return {
    async unfinishedDates() {
      const dates = (await unfinishedBatches(db, bureau)).map((b) => b.businessDate);
      return [...new Set(dates)].sort();
    },
    hasSentBatch: (businessDate, since) => hasSentBatchSince(db, businessDate, since, bureau),
  };
}
