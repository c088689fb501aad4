import type { Knex } from 'knex';

// The send's bookkeeping, set-based (bench/RESULTS.md, issue 15).
//
// perso_batches.events_before: a confirm no longer writes one contract_events row per card (a
// million rows for a 1M file); a sent batch and its items are the cards' Marked → InProduction
// event, and a card's history (db/contract-story.ts) tells it from them. events_before is the
// highest contract_events id when the batch was confirmed, which places that event among the card's
// own. Null on batches sent before: their cards have their event rows.
//
// On PostgreSQL, batch_items' two foreign keys become checks made once per statement. A foreign key
// checks each inserted row on its own (a query and a row lock on the card and on the batch per
// item): for a claim of a million cards, two million of them, most of the claim's writes
// (bench/RESULTS.md). The same guarantees, set-based: after each insert (or update) of items, one
// query over the statement's new rows refuses any that names an unknown batch or card; after a
// delete of cards or batches, one query over the deleted rows refuses it while an item names one of
// them; their ids are never changed (foreign keys refuse that too). A card held by an item cannot
// go meanwhile: the claim has it locked (FOR UPDATE) until its commit, and a delete after that sees
// the item. Errors carry the foreign key's SQLSTATE (23503). SQLite (checks inside the process) and
// MariaDB keep their foreign keys.
//
// card_contracts.batch_id's foreign key goes too on PostgreSQL, for the same reason at the confirm (a
// check and a lock of the batch per card). Only the confirm sets it, to the batch it has just moved
// to sent in the same transaction (the import only clears it); a batch a card names cannot be
// deleted (the check after a delete of batches), nor change its id.

const CHECKS = `
create function batch_items_check_added() returns trigger language plpgsql as $$
begin
  if exists (select 1 from added as a where not exists (select 1 from perso_batches as b where b.id = a.batch_id)) then
    raise foreign_key_violation using message = 'batch_items names a batch that does not exist';
  end if;
  if exists (select 1 from added as a where not exists (select 1 from card_contracts as c where c.id = a.contract_id)) then
    raise foreign_key_violation using message = 'batch_items names a contract that does not exist';
  end if;
  return null;
end $$;
create trigger batch_items_check_inserted after insert on batch_items referencing new table as added
  for each statement execute function batch_items_check_added();
create trigger batch_items_check_updated after update on batch_items referencing new table as added
  for each statement execute function batch_items_check_added();

create function batch_items_check_gone() returns trigger language plpgsql as $$
begin
  if (tg_table_name = 'perso_batches' and exists (select 1 from gone as g inner join batch_items as i on i.batch_id = g.id))
    or (tg_table_name = 'perso_batches' and exists (select 1 from gone as g inner join card_contracts as c on c.batch_id = g.id))
    or (tg_table_name = 'card_contracts' and exists (select 1 from gone as g inner join batch_items as i on i.contract_id = g.id)) then
    raise foreign_key_violation using message = tg_table_name || ' row still named by batch_items (or by card_contracts.batch_id)';
  end if;
  return null;
end $$;
create function batch_items_keep_id() returns trigger language plpgsql as $$
begin
  raise foreign_key_violation using message = 'the id of a ' || tg_table_name || ' row is not changed (batch_items names it)';
end $$;
create trigger batch_items_check_contracts_gone after delete on card_contracts referencing old table as gone
  for each statement execute function batch_items_check_gone();
create trigger batch_items_check_batches_gone after delete on perso_batches referencing old table as gone
  for each statement execute function batch_items_check_gone();
create trigger batch_items_keep_contract_id before update of id on card_contracts
  for each row when (old.id is distinct from new.id) execute function batch_items_keep_id();
create trigger batch_items_keep_batch_id before update of id on perso_batches
  for each row when (old.id is distinct from new.id) execute function batch_items_keep_id();
`;

const DROP_CHECKS = `
drop trigger batch_items_check_inserted on batch_items;
drop trigger batch_items_check_updated on batch_items;
drop trigger batch_items_check_contracts_gone on card_contracts;
drop trigger batch_items_check_batches_gone on perso_batches;
drop trigger batch_items_keep_contract_id on card_contracts;
drop trigger batch_items_keep_batch_id on perso_batches;
drop function batch_items_check_added();
drop function batch_items_check_gone();
drop function batch_items_keep_id();
`;

/** As src/db/connection.ts says it, repeated so that a migration never changes with the code. */
function isPostgres(knex: Knex): boolean {
  return ['pg', 'postgres', 'postgresql'].includes(String(knex.client.config.client));
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('perso_batches', (t) => {
    t.integer('events_before');
  });
  if (!isPostgres(knex)) return;
  await knex.schema.alterTable('batch_items', (t) => {
    t.dropForeign(['batch_id']);
    t.dropForeign(['contract_id']);
  });
  await knex.schema.alterTable('card_contracts', (t) => t.dropForeign(['batch_id']));
  await knex.raw(CHECKS);
}

export async function down(knex: Knex): Promise<void> {
  // SQLite's own DROP COLUMN: knex's copy of the table is refused by the foreign keys once cards exist (005)
  if (knex.client.config.client === 'better-sqlite3') await knex.raw('alter table perso_batches drop column events_before');
  else await knex.schema.alterTable('perso_batches', (t) => t.dropColumn('events_before'));
  if (!isPostgres(knex)) return;
  await knex.raw(DROP_CHECKS);
  await knex.schema.alterTable('batch_items', (t) => {
    t.foreign('batch_id').references('perso_batches.id');
    t.foreign('contract_id').references('card_contracts.id');
  });
  await knex.schema.alterTable('card_contracts', (t) => t.foreign('batch_id').references('perso_batches.id'));
}
