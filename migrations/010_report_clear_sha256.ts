import type { Knex } from 'knex';

// A report is applied once per content. bureau_reports.sha256 is the hash of the encrypted file, and
// encryption is randomized (RSA-OAEP, OpenPGP session keys): the same report encrypted again by the
// bureau (re-sent after a fault on its side) hashes differently. clear_sha256, the hash of the
// decrypted XML, catches it: an applied report of the same clear content is not applied again.
// Reports received before stay null (their copies are kept encrypted; none is decrypted here).

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('bureau_reports', (t) => {
    t.string('clear_sha256', 64);
    t.index(['clear_sha256']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('bureau_reports', (t) => t.dropIndex(['clear_sha256']));
  // as in migration 005: SQLite's own DROP COLUMN, in place, where knex would copy the table
  if (knex.client.config.client === 'better-sqlite3') await knex.raw('alter table ?? drop column ??', ['bureau_reports', 'clear_sha256']);
  else await knex.schema.alterTable('bureau_reports', (t) => t.dropColumn('clear_sha256'));
}
