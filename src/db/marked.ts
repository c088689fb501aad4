// Where the Marked contracts are found: on PostgreSQL through marked_contracts, a table of their ids
// kept by triggers (migrations/009), so that no index of card_contracts names the status and the
// confirm's move of a card out of Marked is written in place; on SQLite and MariaDB through an index of
// card_contracts (migrations/002). Every reader of "the Marked contracts" starts here.
import type { Knex } from 'knex';
import { dialectOf, type Dialect } from './connection.js';

/** Marked contracts as `c`, with the id above `afterId`, through the way the database finds them. */
export function markedContracts(db: Knex | Knex.Transaction, afterId = 0): Knex.QueryBuilder {
  const query = db('card_contracts as c').where('c.production_status', 'Marked').andWhere('c.id', '>', afterId);
  // the bound on both sides: PostgreSQL does not carry an inequality across the join, and a merge
  // join bounded on one side would read the other from its first row for every page
  if (dialectOf(db) === 'pg') query.join('marked_contracts as m', 'm.contract_id', 'c.id').andWhere('m.contract_id', '>', afterId);
  return query;
}

/**
 * markedContracts in raw SQL, for statements written by hand (the claim's pages): what goes after
 * FROM (`c` and any table joined after it), the condition, and how many times the condition takes
 * the id to start after (each `?` of it, first among the statement's bindings).
 */
export function markedContractsSql(dialect: Dialect): { from: string; where: string; afterIdBindings: number } {
  if (dialect !== 'pg') return { from: 'card_contracts as c', where: `c.production_status = 'Marked' and c.id > ?`, afterIdBindings: 1 };
  return {
    from: 'marked_contracts as m inner join card_contracts as c on c.id = m.contract_id',
    where: `c.production_status = 'Marked' and m.contract_id > ? and c.id > ?`,
    afterIdBindings: 2,
  };
}

/** How many contracts are Marked. */
export async function countMarked(db: Knex): Promise<number> {
  const row = await markedContracts(db).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/**
 * Before a claim, on PostgreSQL: any Marked contract marked_contracts does not hold is added (its
 * triggers were off: disabled by hand, a bulk load that skips them), so that none waits for ever.
 * One pass over card_contracts, which the claim pays once (bench/RESULTS.md). How many were added:
 * more than none means the triggers missed them.
 */
export async function queueMissingMarked(trx: Knex.Transaction): Promise<number> {
  if (dialectOf(trx) !== 'pg') return 0;
  const result = await trx.raw(`insert into marked_contracts (contract_id)
    select c.id from card_contracts as c where c.production_status = 'Marked'
    and not exists (select 1 from marked_contracts as m where m.contract_id = c.id) on conflict do nothing`);
  return Number(result.rowCount ?? 0);
}

/**
 * In the confirm, on PostgreSQL, after its batch's cards left Marked: marked_contracts keeps only the
 * contracts still Marked (those cards, and any a claim set Invalid or the card system moved on).
 */
export async function forgetUnmarked(trx: Knex.Transaction): Promise<void> {
  if (dialectOf(trx) !== 'pg') return;
  await trx.raw(`delete from marked_contracts as m
    where not exists (select 1 from card_contracts as c where c.id = m.contract_id and c.production_status = 'Marked')`);
}
