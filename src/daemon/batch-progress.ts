import type { Db } from '../db/connection.js';
import { hasSentBatchSince, unfinishedBatches } from '../db/batches.js';
import type { BatchProgress } from './scheduler.js';

/** What the scheduler reads of perso_batches, from the database. */
export function batchProgressOf(db: Db): BatchProgress {
  return {
    async unfinishedDates() {
      const dates = (await unfinishedBatches(db)).map((b) => b.businessDate);
      return [...new Set(dates)].sort();
    },
    hasSentBatch: (businessDate, since) => hasSentBatchSince(db, businessDate, since),
  };
}
