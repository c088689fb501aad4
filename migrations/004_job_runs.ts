import type { Knex } from 'knex';

// job_runs: the history of every run of the send and receive jobs, whoever started it (daemon or
// CLI), for `history` and the status page. plastic_stock keeps only the latest level of a plastic;
// plastic_stock_history keeps every level a report gave, so the page can draw the trend. Existing
// levels are copied in as their first point. runner_presence: each daemon says every few seconds
// that it lives and in which role, so the page shows the standbys too (leases name only the holder).

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_runs', (t) => {
    t.increments('id').primary();
    t.string('job', 20).notNullable();
    t.string('trigger', 20).notNullable();
    t.string('reason', 100).notNullable();
    t.string('runner', 200).notNullable();
    t.string('business_date', 10);
    t.string('started_at', 30).notNullable();
    t.string('finished_at', 30);
    t.string('outcome', 20).notNullable();
    t.integer('duration_ms');
    t.integer('cards_sent').notNullable().defaultTo(0);
    t.integer('invalid').notNullable().defaultTo(0);
    t.integer('files').notNullable().defaultTo(0);
    t.integer('reports_applied').notNullable().defaultTo(0);
    t.integer('reports_quarantined').notNullable().defaultTo(0);
    t.text('file_names');
    t.text('error');
    t.index(['job', 'started_at']);
    t.index(['outcome']);
  });

  await knex.schema.createTable('runner_presence', (t) => {
    t.string('runner', 200).primary();
    t.string('role', 20).notNullable();
    t.string('started_at', 30).notNullable();
    t.string('seen_at', 30).notNullable();
  });

  await knex.schema.createTable('plastic_stock_history', (t) => {
    t.increments('id').primary();
    t.string('product_code', 20).notNullable();
    t.integer('report_id').unsigned().references('bureau_reports.id');
    t.string('report_date', 10);
    t.integer('closing').notNullable();
    t.integer('min_stock').notNullable();
    t.string('recorded_at', 30).notNullable();
    t.index(['product_code', 'report_date']);
  });
  const levels: Array<{ product_code: string; report_id: number | null; report_date: string | null; closing: number; min_stock: number; updated_at: string }> =
    await knex('plastic_stock').select('product_code', 'report_id', 'report_date', 'closing', 'min_stock', 'updated_at');
  for (const l of levels) {
    await knex('plastic_stock_history').insert({
      product_code: l.product_code, report_id: l.report_id, report_date: l.report_date, closing: l.closing, min_stock: l.min_stock, recorded_at: l.updated_at,
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('plastic_stock_history');
  await knex.schema.dropTableIfExists('runner_presence');
  await knex.schema.dropTableIfExists('job_runs');
}
