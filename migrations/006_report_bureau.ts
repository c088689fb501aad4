import type { Knex } from 'knex';

// Receiving from several bureaus (docs/bureaus.md): bureau_reports.bureau_code is the bureau a report
// came from, and plastic stock is kept per bureau (each bureau holds its own plastics): plastic_stock
// is keyed by bureau and product instead of product alone, and plastic_stock_history records the
// bureau of each level. Rows written before stay null: null is the FIRST configured bureau's, as in
// migration 005; no row is rewritten. The first bureau's stock rows keep a null code from now on as
// well, so that each product has one row per bureau (its receive, under its lease, is their one writer).

export async function up(knex: Knex): Promise<void> {
  for (const table of ['bureau_reports', 'plastic_stock_history']) {
    await knex.schema.alterTable(table, (t) => {
      t.string('bureau_code', 8);
    });
  }
  // the primary key cannot hold a nullable column: a unique index on bureau and product takes its place
  await knex.schema.alterTable('plastic_stock', (t) => {
    t.dropPrimary();
  });
  await knex.schema.alterTable('plastic_stock', (t) => {
    t.string('bureau_code', 8);
    t.unique(['bureau_code', 'product_code']);
  });
}

export async function down(knex: Knex): Promise<void> {
  // one level per product again: the first bureau's (null) stays, the other bureaus' go
  await knex('plastic_stock').whereNotNull('bureau_code').delete();
  await knex.schema.alterTable('plastic_stock', (t) => {
    t.dropUnique(['bureau_code', 'product_code']);
  });
  for (const table of ['plastic_stock', 'plastic_stock_history', 'bureau_reports']) await dropBureauCode(knex, table);
  await knex.schema.alterTable('plastic_stock', (t) => {
    t.primary(['product_code']);
  });
}

/** As in migration 005: SQLite's own DROP COLUMN, in place, where knex would copy the table. */
async function dropBureauCode(knex: Knex, table: string): Promise<void> {
  if (knex.client.config.client === 'better-sqlite3') await knex.raw('alter table ?? drop column ??', [table, 'bureau_code']);
  else await knex.schema.alterTable(table, (t) => t.dropColumn('bureau_code'));
}
