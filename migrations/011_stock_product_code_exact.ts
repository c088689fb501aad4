import type { Knex } from 'knex';

// A product code is exact: CLASSIC01 and classic01 are two products on SQLite and PostgreSQL. MariaDB
// compares text by its collation, utf8mb4's default ignoring case, so a report naming both kept one
// stock row, the second's level written over the first's. Binary collation makes MariaDB exact too.
// Down refuses (a duplicate key) while two codes of one bureau differ only in case.

const TABLES = ['plastic_stock', 'plastic_stock_history'];

export async function up(knex: Knex): Promise<void> {
  if (!isMariaDb(knex)) return;
  for (const table of TABLES) await knex.raw('alter table ?? modify ?? varchar(20) character set utf8mb4 collate utf8mb4_bin not null', [table, 'product_code']);
}

export async function down(knex: Knex): Promise<void> {
  if (!isMariaDb(knex)) return;
  for (const table of TABLES) await knex.raw('alter table ?? modify ?? varchar(20) character set utf8mb4 not null', [table, 'product_code']);
}

function isMariaDb(knex: Knex): boolean {
  const client = knex.client.config.client;
  return client === 'mysql' || client === 'mysql2';
}
