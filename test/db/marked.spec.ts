import { strict as assert } from 'node:assert';
import knexFactory, { type Knex } from 'knex';
import { confirmBatch, markEncrypted, markUploaded } from '../../src/db/batches.js';
import { countMarked } from '../../src/db/marked.js';
import { claimBatch, type ClaimParams } from '../../src/outbound/claim-step.js';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables, insertCards, screenWith } from '../outbound/fixtures.js';

// How the claim finds Marked contracts (src/db/marked.ts): on every database whoever sets the status
// (the card system writes it itself, here as raw SQL); on PostgreSQL through marked_contracts, kept by
// triggers (migrations/009), which must never make a card wait for ever nor be claimed when not Marked.

const cipher = new PanCipher(newPanKey());
const NOW = '2026-11-26T10:00:00.000Z';

function params(overrides: Partial<ClaimParams> = {}): ClaimParams {
  return {
    businessDate: '2026-11-26', maxCards: 1000, fileName: (seq) => `BX_PERSO_20261126_${String(seq).padStart(6, '0')}.dat.pgp`,
    screen: screenWith(cipher, () => ({ ok: true })), now: NOW, pageSize: 4, ...overrides,
  };
}

/** The contract numbers of a batch, in record order. */
async function itemsOf(db: Knex, batchId: number): Promise<string[]> {
  return db('batch_items as bi').join('card_contracts as c', 'c.id', 'bi.contract_id').where('bi.batch_id', batchId).orderBy('bi.record_number').pluck('c.contract_number');
}

/** claimed → sent, as the send job moves a batch. */
async function sendBatch(db: Knex, batchId: number, cards: number): Promise<void> {
  const encrypted = { clearSha256: 'a'.repeat(64), clearSize: 10, encSha256: 'b'.repeat(64), encSize: 20, outboxPath: '/x', recordCount: cards, hashTotal: '0' };
  await markEncrypted(db, batchId, encrypted, NOW);
  await markUploaded(db, batchId, NOW);
  await confirmBatch(db, batchId, null, NOW);
}

/** The ids marked_contracts holds (PostgreSQL), in order. */
async function queued(db: Knex): Promise<number[]> {
  return (await db('marked_contracts').orderBy('contract_id').pluck('contract_id')).map(Number);
}

async function idOf(db: Knex, contractNumber: string): Promise<number> {
  return Number((await db('card_contracts').where({ contract_number: contractNumber }).first('id')).id);
}

describeEachDatabase('Marked contracts', (ctx) => {
  beforeEach(async () => clearSendTables(ctx().db));

  it('claims the cards the card system marks itself (new rows and updates), and none it moves away from Marked', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 3);
    await insertCards(db, cipher, 10, 3, () => ({}), 'Shipped');
    // as the card system would, in its own statements: one card marked again, one Marked card cancelled
    await db('card_contracts').where({ contract_number: '1011' }).update({ production_status: 'Marked' });
    await db('card_contracts').where({ contract_number: '1002' }).update({ production_status: 'Rejected' });
    assert.equal(await countMarked(db), 3);
    const { batch, requeued } = await claimBatch(db, params());
    assert.deepEqual(await itemsOf(db, batch!.id), ['1001', '1003', '1011']);
    assert.equal(requeued, 0, 'nothing was missing');
    await sendBatch(db, batch!.id, 3);
    assert.equal(await countMarked(db), 0);
    assert.equal((await claimBatch(db, params())).batch, null);
  });

});

// marked_contracts is PostgreSQL's alone (SQLite and MariaDB read an index of card_contracts)
describeEachDatabase('Marked contracts through marked_contracts', (ctx) => {
  beforeEach(async () => clearSendTables(ctx().db));

  it('the confirm keeps only the ids of cards still Marked, and the cards of its batch are updated in place (HOT)', async () => {
    const { db, database } = ctx();
    await insertCards(db, cipher, 1, 6);
    const ids = await Promise.all(['1001', '1002', '1003', '1004', '1005', '1006'].map((n) => idOf(db, n)));
    const { batch } = await claimBatch(db, params({ maxCards: 4 }));
    // every update of card_contracts on one connection: what it did is read on the server process that did it
    const one = knexFactory({ client: 'pg', connection: database.url, pool: { min: 1, max: 1 } });
    try {
      await one('card_contracts').where({ id: ids[5] }).update({ production_status: 'Rejected' });
      await one('contract_events').where({ contract_id: ids[4] }).delete();
      await one('card_contracts').where({ id: ids[4] }).delete();
      const before = await cardUpdates(one);
      await sendBatch(one, batch!.id, 4);
      const after = await cardUpdates(one);
      assert.deepEqual([after.updated - before.updated, after.hot - before.hot], [4, 4], 'the four cards of the batch, each written in place');
    } finally {
      await one.destroy();
    }
    assert.deepEqual(await queued(db), [], 'the sent cards, the rejected one and the deleted one are out');
    await db('card_contracts').where({ id: ids[5] }).update({ production_status: 'Marked' });
    assert.deepEqual(await queued(db), [ids[5]], 'marked again: back in');
  });

  it('a Marked card marked_contracts misses (its triggers were off) is still claimed, and counted as taken in', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 3);
    await db.raw('alter table card_contracts disable trigger marked_contracts_inserted');
    try {
      await insertCards(db, cipher, 4, 2);
    } finally {
      await db.raw('alter table card_contracts enable always trigger marked_contracts_inserted');
    }
    assert.equal((await queued(db)).length, 3);
    const { batch, requeued } = await claimBatch(db, params());
    assert.equal(requeued, 2);
    assert.deepEqual(await itemsOf(db, batch!.id), ['1001', '1002', '1003', '1004', '1005']);
  });

  it('while a trigger is off each claim takes in what it missed; once it is back, one more pass, then the claim trusts the table', async () => {
    const { db } = ctx();
    const claimed = async () => {
      const { batch, requeued } = await claimBatch(db, params());
      return { requeued, cards: batch ? await itemsOf(db, batch.id) : [] };
    };
    await insertCards(db, cipher, 1, 1);
    assert.deepEqual(await claimed(), { requeued: 0, cards: ['1001'] });
    await db.raw('alter table card_contracts disable trigger marked_contracts_inserted');
    try {
      await insertCards(db, cipher, 2, 1);
      assert.deepEqual(await claimed(), { requeued: 1, cards: ['1002'] });
      await insertCards(db, cipher, 3, 1);
      assert.deepEqual(await claimed(), { requeued: 1, cards: ['1003'] });
    } finally {
      await db.raw('alter table card_contracts enable always trigger marked_contracts_inserted');
    }
    await insertCards(db, cipher, 4, 2);
    await db('marked_contracts').where({ contract_id: await idOf(db, '1005') }).delete();
    assert.deepEqual(await claimed(), { requeued: 1, cards: ['1004', '1005'] }, 'the trigger changed since the last pass');
    await insertCards(db, cipher, 6, 2);
    await db('marked_contracts').where({ contract_id: await idOf(db, '1007') }).delete();
    assert.deepEqual(await claimed(), { requeued: 0, cards: ['1006'] }, 'triggers unchanged: no pass over card_contracts (a row deleted by hand is not looked for)');
    await db.raw('truncate marked_contracts');
    // every card is still Marked (its batch is not sent): all seven go back in, the unsent batches hold six
    assert.deepEqual(await claimed(), { requeued: 7, cards: ['1007'] }, 'a truncated table gets its pass');
  });

  it('its triggers fire where rows are applied as a replica (logical replication), and a statement of many rows queues its Marked ones', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 2, () => ({}), 'Shipped');
    await db.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica');
      await trx('card_contracts').where({ contract_number: '1001' }).update({ production_status: 'Marked' });
    });
    assert.deepEqual(await queued(db), [await idOf(db, '1001')]);
    // one insert statement of several rows, as a bulk load would: copies of the two cards under new numbers
    const columns = await db('card_contracts').columnInfo();
    const names = Object.keys(columns).filter((c) => !['id', 'contract_number', 'production_status'].includes(c));
    await db.raw(`insert into card_contracts (contract_number, production_status, ${names.join(', ')})
      select 'X' || contract_number, case when contract_number = '1001' then 'Marked' else 'Invalid' end, ${names.join(', ')} from card_contracts`);
    assert.deepEqual(await queued(db), [await idOf(db, '1001'), await idOf(db, 'X1001')]);
    assert.equal(await countMarked(db), 2);
  });
}, ['pg']);

/** card_contracts' updated row versions and those written in place, as the statistics count them (this connection's own counts sent first). */
async function cardUpdates(db: Knex): Promise<{ updated: number; hot: number }> {
  // the process sends its counts at the end of the transaction after this request; read in the next one
  await db.raw('select pg_stat_force_next_flush()');
  await db.raw('select pg_stat_clear_snapshot()');
  const { rows } = await db.raw(`select sum(n_tup_upd) as updated, sum(n_tup_hot_upd) as hot from pg_stat_user_tables where relname = 'card_contracts'`);
  return { updated: Number(rows[0].updated), hot: Number(rows[0].hot) };
}
