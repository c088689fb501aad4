import type { Knex } from 'knex';

/** The file name of the unsent batch that holds contract `c`, or null (a scalar subquery: see NOT_IN_UNSENT_BATCH). */
export const UNSENT_BATCH_FILE = `(select min(b.file_name) from batch_items as bi inner join perso_batches as b on b.id = bi.batch_id
  where bi.contract_id = c.id and b.state <> 'sent')`;

/**
 * A Marked contract (`c`) is free to claim unless a batch not yet sent holds it: the claim writes its
 * batch_items only, and the contract's own row is written once, when the batch is confirmed (its status
 * and batch_id). A contract marked again after a rejection still names the batch that carried it
 * before, which was sent: it is free.
 *
 * A scalar subquery, looked up per contract through batch_items' contract_id index: PostgreSQL turns a
 * `not exists` into a merge anti-join that reads batch_items from its first contract for every page,
 * all the items the claim has written so far included (quadratic over a claim).
 */
export const NOT_IN_UNSENT_BATCH = `${UNSENT_BATCH_FILE} is null`;

/** The file name of the unsent batch that holds a contract, if one does. */
export async function unsentBatchHolding(db: Knex | Knex.Transaction, contractId: number): Promise<string | undefined> {
  const row: { file: string | null } | undefined = await db('card_contracts as c').where('c.id', contractId).first(db.raw(`${UNSENT_BATCH_FILE} as file`));
  return row?.file ?? undefined;
}
