// Where the Marked contracts are found: on PostgreSQL through marked_contracts, a table of their ids
// kept by triggers (migrations/009), so that no index of card_contracts names the status and the
// confirm's move of a card out of Marked is written in place; on SQLite and MariaDB through an index of
// card_contracts (migrations/002). Every reader of "the Marked contracts" starts here.
import type { Knex } from 'knex';
import { dialectOf, nowIso, type Dialect } from './connection.js';

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
 * FROM (`c` and any table joined after it), the condition, and the condition's bindings for the id
 * to start after (the statement's first ones).
 */
export function markedContractsSql(dialect: Dialect): { from: string; where: string; after(afterId: number): number[] } {
  if (dialect !== 'pg') return { from: 'card_contracts as c', where: `c.production_status = 'Marked' and c.id > ?`, after: (afterId) => [afterId] };
  return {
    from: 'marked_contracts as m inner join card_contracts as c on c.id = m.contract_id',
    where: `c.production_status = 'Marked' and m.contract_id > ? and c.id > ?`,
    after: (afterId) => [afterId, afterId],
  };
}

/** How many contracts are Marked. */
export async function countMarked(db: Knex): Promise<number> {
  const row = await markedContracts(db).count({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/**
 * Before a claim, on PostgreSQL: when marked_contracts' triggers may have missed a card since the last
 * pass (they are off, or were changed since: disabled for a bulk load, pg_restore --disable-triggers,
 * a new database; or the table was truncated), any Marked contract the table does not hold is added,
 * so that none waits for ever. That pass reads all of card_contracts, so it runs only then: the
 * catalogue says when (each ALTER of a trigger writes a new version of its pg_trigger row, a TRUNCATE
 * gives the table a new file). How many were added: more than none means the triggers missed them.
 */
export async function queueMissingMarked(trx: Knex.Transaction): Promise<number> {
  if (dialectOf(trx) !== 'pg') return 0;
  const { rows: [state] } = await trx.raw(`select count(*) filter (where t.tgenabled in ('A', 'O')) = 2 as "on",
      string_agg(t.tgname || ' ' || t.tgenabled::text || ' ' || t.xmin::text, ', ' order by t.tgname) || ', file ' || pg_relation_filenode('marked_contracts') as triggers
    from pg_trigger as t where t.tgrelid = 'card_contracts'::regclass and t.tgname in ('marked_contracts_inserted', 'marked_contracts_updated')`);
  const last = await trx('marked_contracts_checked').first('triggers');
  if (state.on && last?.triggers === state.triggers) return 0;
  const added = await trx.raw(`insert into marked_contracts (contract_id)
    select c.id from card_contracts as c where c.production_status = 'Marked'
    and not exists (select 1 from marked_contracts as m where m.contract_id = c.id) on conflict do nothing`);
  // while they are off, every claim makes this pass
  if (state.on) {
    await trx('marked_contracts_checked').delete();
    await trx('marked_contracts_checked').insert({ triggers: state.triggers, checked_at: nowIso() });
  }
  return Number(added.rowCount ?? 0);
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
