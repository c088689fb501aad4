import { strict as assert } from 'node:assert';
import type { Knex } from 'knex';
import { claimBatch } from '../../src/outbound/claim-step.js';
import { dialectOf } from '../../src/db/connection.js';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables, insertCards, screenWith } from './fixtures.js';

const cipher = new PanCipher(newPanKey());

/** Makes the database refuse batch items past record `after` (a write in the middle of a claim fails). */
async function refuseItemsAfter(db: Knex, after: number): Promise<() => Promise<void>> {
  if (dialectOf(db) === 'pg') {
    await db.raw(`create or replace function bx_test_refuse() returns trigger language plpgsql as $$
      begin if new.record_number > ${after} then raise exception 'injected: record %', new.record_number; end if; return new; end $$`);
    await db.raw('create trigger bx_test_refuse before insert on batch_items for each row execute function bx_test_refuse()');
    return async () => {
      await db.raw('drop trigger bx_test_refuse on batch_items');
      await db.raw('drop function bx_test_refuse()');
    };
  }
  if (dialectOf(db) === 'mysql') {
    await db.raw(`create trigger bx_test_refuse before insert on batch_items for each row
      begin if new.record_number > ${after} then signal sqlstate '45000' set message_text = 'injected: record past the limit'; end if; end`);
    return async () => { await db.raw('drop trigger bx_test_refuse'); };
  }
  await db.raw(`create trigger bx_test_refuse before insert on batch_items when new.record_number > ${after}
    begin select raise(abort, 'injected: record past the limit'); end`);
  return async () => { await db.raw('drop trigger bx_test_refuse'); };
}

describeEachDatabase('claim: a write failing in the middle', (ctx) => {
  beforeEach(async () => clearSendTables(ctx().db));

  it('fails the claim with that write\'s error and leaves nothing claimed (pages read ahead or not)', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 40, (n) => (n % 6 === 0 ? { lastName: 'BAD' } : {}));
    const eventsBefore = Number((await db('contract_events').count({ n: '*' }).first())!.n);
    const restore = await refuseItemsAfter(db, 12);
    const handed: number[] = [];
    try {
      await assert.rejects(claimBatch(db, {
        businessDate: '2026-11-26', maxCards: 1000, fileName: (seq) => `F_${seq}.dat.pgp`,
        screen: screenWith(cipher, (c) => (c.lastName === 'BAD' ? { ok: false, field: 'lastName', reason: 'bad' } : { ok: true })),
        now: '2026-11-26T10:00:00.000Z', pageSize: 5,
        onClaimed: async (_batch, contractIds) => { handed.push(contractIds.length); },
      }), /injected/);
    } finally {
      await restore();
    }
    assert.ok(handed.length > 0, 'cards were handed over before the failure');
    assert.equal(Number((await db('batch_items').count({ n: '*' }).first())!.n), 0);
    assert.equal(Number((await db('perso_batches').count({ n: '*' }).first())!.n), 0);
    const statuses = await db('card_contracts').select('production_status', 'batch_id');
    assert.equal(statuses.length, 40);
    assert.ok(statuses.every((r: { production_status: string; batch_id: unknown }) => r.production_status === 'Marked' && r.batch_id === null));
    assert.equal(Number((await db('contract_events').count({ n: '*' }).first())!.n), eventsBefore, 'no Invalid events either');
  });
});
