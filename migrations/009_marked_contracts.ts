import type { Knex } from 'knex';

// On PostgreSQL the claim finds Marked contracts through marked_contracts, a table of their ids kept
// by triggers, instead of the partial index of 002 (dropped here). That index names
// production_status, so the confirm's move of each card out of Marked could not be written in place
// (HOT): every card of a batch became a new row version with an entry in each index of the table. With
// no index naming a column the confirm writes, its update of a million cards takes about a third of
// the time (bench/RESULTS.md, issue 15, fifth pass).
//
// The card system sets the status itself, so the table is kept by triggers on card_contracts: each
// statement that inserts cards queues its Marked ones (one set-based insert per statement), each row
// updated to Marked is queued (the row trigger's WHEN is checked without calling the function, so the
// confirm's million updates to InProduction cost nothing here). They fire ALWAYS, also where rows
// are applied by logical replication (session_replication_role = replica). The confirm takes its
// batch's ids out, and any whose card is no longer Marked. The table is only a way to the cards: the
// claim checks each card's status, and whenever the triggers may have missed a card (they were
// disabled, even for a while: a bulk load, pg_restore --disable-triggers) the next claim adds any
// Marked card the table does not hold, so none waits for ever. marked_contracts_checked keeps what
// the triggers were like at the last such pass (db/marked.ts, docs/design.md).
//
// The refusal of a change of a card's id (007) becomes an AFTER trigger: a BEFORE row trigger makes
// PostgreSQL lock each row an UPDATE writes before it looks at the trigger's column list, one more
// WAL record per card of the confirm (its update of 1M cards: 11.2 s with it, 8.6 s without). An
// AFTER trigger refuses the same change, by failing the statement.
//
// SQLite and MariaDB keep their index (the partial index of 002, the composite index of 001): on
// SQLite an update is written in place whatever its indexes, and MariaDB has no partial index.

const UP = `
create table marked_contracts (contract_id integer primary key);
create table marked_contracts_checked (triggers text not null, checked_at varchar(30) not null);
create function marked_contracts_queue() returns trigger language plpgsql as $$
begin
  if tg_level = 'STATEMENT' then
    insert into marked_contracts (contract_id) select a.id from added as a where a.production_status = 'Marked' on conflict do nothing;
  else
    insert into marked_contracts (contract_id) values (new.id) on conflict do nothing;
  end if;
  return null;
end $$;
create trigger marked_contracts_inserted after insert on card_contracts referencing new table as added
  for each statement execute function marked_contracts_queue();
create trigger marked_contracts_updated after update of production_status on card_contracts
  for each row when (new.production_status = 'Marked') execute function marked_contracts_queue();
alter table card_contracts enable always trigger marked_contracts_inserted;
alter table card_contracts enable always trigger marked_contracts_updated;
insert into marked_contracts (contract_id) select id from card_contracts where production_status = 'Marked';
drop index card_contracts_marked_index;
drop trigger batch_items_keep_contract_id on card_contracts;
create trigger batch_items_keep_contract_id after update of id on card_contracts
  for each row when (old.id is distinct from new.id) execute function batch_items_keep_id();
`;

const DOWN = `
drop trigger batch_items_keep_contract_id on card_contracts;
create trigger batch_items_keep_contract_id before update of id on card_contracts
  for each row when (old.id is distinct from new.id) execute function batch_items_keep_id();
create index card_contracts_marked_index on card_contracts (id) where production_status = 'Marked';
drop trigger marked_contracts_inserted on card_contracts;
drop trigger marked_contracts_updated on card_contracts;
drop function marked_contracts_queue();
drop table marked_contracts;
drop table marked_contracts_checked;
`;

/** As src/db/connection.ts says it, repeated so that a migration never changes with the code. */
function isPostgres(knex: Knex): boolean {
  return ['pg', 'postgres', 'postgresql'].includes(String(knex.client.config.client));
}

export async function up(knex: Knex): Promise<void> {
  if (isPostgres(knex)) await knex.raw(UP);
}

export async function down(knex: Knex): Promise<void> {
  if (isPostgres(knex)) await knex.raw(DOWN);
}
