import type { Knex } from 'knex';

// Timestamps are UTC ISO-8601 text and dates YYYY-MM-DD text on every dialect: no time-zone drift
// between SQLite, PostgreSQL and MariaDB drivers.

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('clients', (t) => {
    t.increments('id').primary();
    t.string('title', 20).notNullable().defaultTo('');
    t.string('first_name', 100).notNullable().defaultTo('');
    t.string('last_name', 100).notNullable().defaultTo('');
    t.string('company_name', 100).notNullable().defaultTo('');
    t.string('address_line1', 100).notNullable().defaultTo('');
    t.string('address_line2', 100).notNullable().defaultTo('');
    t.string('address_line3', 100).notNullable().defaultTo('');
    t.string('postal_code', 20).notNullable().defaultTo('');
    t.string('city', 100).notNullable().defaultTo('');
    t.string('country', 3).notNullable().defaultTo('');
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
  });

  await knex.schema.createTable('perso_batches', (t) => {
    t.increments('id').primary();
    t.string('business_date', 10).notNullable();
    t.integer('sequence').notNullable();
    t.string('file_name', 120).notNullable().unique();
    t.string('state', 20).notNullable();
    t.integer('record_count').notNullable().defaultTo(0);
    t.string('hash_total', 20).notNullable().defaultTo('0');
    t.string('clear_sha256', 64);
    t.bigInteger('clear_size');
    t.string('enc_sha256', 64);
    t.bigInteger('enc_size');
    t.string('outbox_path', 500);
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.string('sent_at', 30);
    t.unique(['business_date', 'sequence']);
    t.index(['state']);
  });

  await knex.schema.createTable('card_contracts', (t) => {
    t.increments('id').primary();
    t.string('contract_number', 15).notNullable();
    t.string('plastic_id', 12).notNullable();
    t.integer('client_id').unsigned().notNullable().references('clients.id');
    t.string('card_form', 10).notNullable();
    t.integer('plastic_seq').notNullable();
    t.text('pan_enc').notNullable();
    t.string('pan_last4', 4).notNullable();
    t.string('pan_hmac', 64).notNullable();
    t.string('expiry', 4).notNullable();
    t.string('request_type', 10).notNullable();
    t.string('product_code', 10).notNullable();
    t.string('chip_profile', 20).notNullable().defaultTo('');
    t.integer('delivery_method').notNullable();
    t.string('pin_mailer', 1).notNullable();
    t.string('embossed_name', 100);
    t.string('production_status', 20).notNullable();
    t.integer('batch_id').unsigned().references('perso_batches.id');
    t.string('reject_code', 10);
    t.text('reject_reason');
    t.string('expected_ship_date', 10);
    t.string('ship_date', 10);
    t.string('courier', 50);
    t.string('tracking_number', 100);
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.unique(['contract_number', 'plastic_id']);
    t.index(['production_status', 'batch_id']);
    t.index(['pan_hmac']);
  });

  await knex.schema.createTable('batch_items', (t) => {
    t.integer('batch_id').unsigned().notNullable().references('perso_batches.id');
    t.integer('record_number').notNullable();
    t.integer('contract_id').unsigned().notNullable().references('card_contracts.id');
    t.primary(['batch_id', 'record_number']);
    t.unique(['batch_id', 'contract_id']);
    t.index(['contract_id']);
  });

  await knex.schema.createTable('bureau_reports', (t) => {
    t.increments('id').primary();
    t.string('remote_name', 255).notNullable();
    t.string('sha256', 64).notNullable().unique();
    t.string('kind', 10).notNullable();
    t.string('state', 20).notNullable();
    t.string('remote_state', 20).notNullable().defaultTo('pending');
    t.string('source_file', 120);
    t.string('report_date', 10);
    t.integer('rejections').notNullable().defaultTo(0);
    t.integer('shipments').notNullable().defaultTo(0);
    t.integer('stock_items').notNullable().defaultTo(0);
    t.integer('anomalies').notNullable().defaultTo(0);
    t.text('error');
    t.string('local_path', 500);
    t.string('created_at', 30).notNullable();
    t.string('updated_at', 30).notNullable();
    t.index(['state']);
  });

  await knex.schema.createTable('report_anomalies', (t) => {
    t.increments('id').primary();
    t.integer('report_id').unsigned().notNullable().references('bureau_reports.id');
    t.string('element', 200).notNullable();
    t.string('contract_number', 15);
    t.string('plastic_id', 12);
    t.text('reason').notNullable();
    t.index(['report_id']);
  });

  await knex.schema.createTable('contract_events', (t) => {
    t.increments('id').primary();
    t.integer('contract_id').unsigned().notNullable().references('card_contracts.id');
    t.string('from_status', 20);
    t.string('to_status', 20).notNullable();
    t.string('source_kind', 20).notNullable();
    t.integer('source_id');
    t.text('detail');
    t.string('created_at', 30).notNullable();
    t.index(['contract_id']);
  });

  await knex.schema.createTable('plastic_stock', (t) => {
    t.string('product_code', 20).primary();
    t.integer('opening').notNullable();
    t.integer('received').notNullable();
    t.integer('used').notNullable();
    t.integer('spoiled').notNullable();
    t.integer('closing').notNullable();
    t.integer('min_stock').notNullable();
    t.boolean('low').notNullable();
    t.integer('report_id').unsigned().references('bureau_reports.id');
    t.string('report_date', 10);
    t.string('updated_at', 30).notNullable();
  });

  await knex.schema.createTable('leases', (t) => {
    t.string('name', 50).primary();
    t.string('owner', 200).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.string('acquired_at', 30).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['leases', 'plastic_stock', 'contract_events', 'report_anomalies', 'bureau_reports', 'batch_items', 'card_contracts', 'perso_batches', 'clients']) {
    await knex.schema.dropTableIfExists(table);
  }
}
