import type { Knex } from 'knex';

// batch_items kept three indexes: its primary key (batch_id, record_number), a unique (batch_id,
// contract_id) and an index on contract_id. One unique (contract_id, batch_id) does the work of the
// last two: the same guarantee (a card once per batch), and contract_id first for what looks a card up
// (is it held by an unsent batch, which batch sent it); the batch's own reads go through the primary
// key. Every claimed card wrote one index entry less: a 1M-card claim's items on PostgreSQL 18.7–19.3 s
// → 15.5–16.7 s (bench/RESULTS.md). The new index is made before the old ones go, so that MariaDB's
// foreign key on contract_id always has an index to stand on.

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('batch_items', (t) => t.unique(['contract_id', 'batch_id']));
  await knex.schema.alterTable('batch_items', (t) => {
    t.dropUnique(['batch_id', 'contract_id']);
    t.dropIndex(['contract_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('batch_items', (t) => {
    t.unique(['batch_id', 'contract_id']);
    t.index(['contract_id']);
  });
  await knex.schema.alterTable('batch_items', (t) => t.dropUnique(['contract_id', 'batch_id']));
}
