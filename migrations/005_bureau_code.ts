import type { Knex } from 'knex';

// Several bureaus (docs/bureaus.md): perso_batches.bureau_code is the bureau a file went to, and
// card_contracts.bureau_code the bureau that produced a card (set when its batch is confirmed). Both
// stay null on rows written before this migration: null is the FIRST configured bureau's (the one
// every earlier version served), which the code reads that way; no row is rewritten here, so the
// migration costs nothing on a large card table. The daily sequence becomes per bureau and date.

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('perso_batches', (t) => {
    t.string('bureau_code', 8);
  });
  await knex.schema.alterTable('card_contracts', (t) => {
    t.string('bureau_code', 8);
  });
  await knex.schema.alterTable('perso_batches', (t) => {
    t.dropUnique(['business_date', 'sequence']);
    t.unique(['bureau_code', 'business_date', 'sequence']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('perso_batches', (t) => {
    t.dropUnique(['bureau_code', 'business_date', 'sequence']);
    t.unique(['business_date', 'sequence']);
  });
  await knex.schema.alterTable('card_contracts', (t) => {
    t.dropColumn('bureau_code');
  });
  await knex.schema.alterTable('perso_batches', (t) => {
    t.dropColumn('bureau_code');
  });
}
