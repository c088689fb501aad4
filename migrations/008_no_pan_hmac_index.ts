import type { Knex } from 'knex';

// card_contracts.pan_hmac loses its index: no query looks a card up by it (the keyed hash needs this
// service's PAN key, so no other system can compute one either), and every write of a card that is not
// in place paid an insert into it at a random place of a large B-tree. On PostgreSQL the confirm's
// status change of a million cards writes each card anew with an entry in each index: without this
// one it took about half as long (bench/RESULTS.md, issue 15). The column stays: the PAN's binding
// check (security/pan.ts) reads it. Whoever needs a look-up by it can create the index again (down).

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('card_contracts', (t) => t.dropIndex(['pan_hmac']));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('card_contracts', (t) => t.index(['pan_hmac']));
}
