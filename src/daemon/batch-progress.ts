import type { Db } from '../db/connection.js';
import { unfinishedBatches } from '../db/batches.js';
import type { BatchProgress } from './scheduler.js';

/** What the scheduler reads of perso_batches, from the database. */
export function batchProgressOf(db: Db): BatchProgress {
  return {
    async unfinishedDates() {
      const dates = (await unfinishedBatches(db)).map((b) => b.businessDate);
      return [...new Set(dates)].sort();
    },
    async hasSentBatch(businessDate, since) {
      // sent_at is UTC ISO text on every dialect: text order is time order
      const row = await db('perso_batches').where({ business_date: businessDate, state: 'sent' })
        .andWhere('sent_at', '>=', since.toISOString()).first('id');
      return row !== undefined;
    },
  };
}
