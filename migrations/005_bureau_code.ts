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
  for (const table of ['card_contracts', 'perso_batches']) await dropBureauCode(knex, table);
}

/**
 * On SQLite, knex drops a column by copying the table and dropping the original, which the foreign
 * keys of batch_items and contract_events refuse once cards exist; SQLite's own DROP COLUMN (3.35+)
 * removes it in place.
 */
async function dropBureauCode(knex: Knex, table: string): Promise<void> {
  if (knex.client.config.client === 'better-sqlite3') await knex.raw('alter table ?? drop column ??', [table, 'bureau_code']);
  else await knex.schema.alterTable(table, (t) => t.dropColumn('bureau_code'));
}
