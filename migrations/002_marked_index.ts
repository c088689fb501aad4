import type { Knex } from 'knex';

// The claim finds Marked contracts through a partial index on id (SQLite, PostgreSQL), instead of an
// index on (production_status, batch_id) that every claim and every confirm rewrote for every card:
// the claim's batch_id no longer touches an index, and the confirm only takes the card out of this
// one. Cards of a batch are found through batch_items. On PostgreSQL card_contracts also keeps half
// of each page free (fillfactor 50), so that an update touching no indexed column (the claim's
// batch_id, a report's shipment date) is a HOT update, written in place: 1M claims measured in about
// half the time. That applies to pages written from now on; an existing large table takes it with
// `VACUUM FULL card_contracts` (exclusive lock: a maintenance window) — docs/operations.md.
// MariaDB has no partial indexes: it keeps the composite index.

const OLD_INDEX = ['production_status', 'batch_id'];

/** As src/db/connection.ts says it, repeated so that a migration never changes with the code. */
function dialectOf(knex: Knex): 'pg' | 'mysql' | 'sqlite' {
  const client = String(knex.client.config.client);
  if (['pg', 'postgres', 'postgresql'].includes(client)) return 'pg';
  return client.startsWith('mysql') ? 'mysql' : 'sqlite';
}

export async function up(knex: Knex): Promise<void> {
  if (dialectOf(knex) === 'mysql') return;
  await knex.schema.alterTable('card_contracts', (t) => t.dropIndex(OLD_INDEX));
  await knex.raw(`create index card_contracts_marked_index on card_contracts (id) where production_status = 'Marked'`);
  if (dialectOf(knex) === 'pg') await knex.raw('alter table card_contracts set (fillfactor = 50)');
}

export async function down(knex: Knex): Promise<void> {
  if (dialectOf(knex) === 'mysql') return;
  if (dialectOf(knex) === 'pg') await knex.raw('alter table card_contracts reset (fillfactor)');
  await knex.raw('drop index card_contracts_marked_index');
  await knex.schema.alterTable('card_contracts', (t) => t.index(OLD_INDEX));
}
