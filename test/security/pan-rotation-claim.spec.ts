import { strict as assert } from 'node:assert';
import { rotatePans } from '../../src/db/pan-rotation.js';
import { claimBatch } from '../../src/outbound/claim-step.js';
import { PanCipher } from '../../src/security/pan.js';
import { DIALECTS, describeEachDatabase, newPanKey, settledOrWaiting } from '../helpers/db.js';
import { clearSendTables, insertCards, screenWith } from '../outbound/fixtures.js';

// Row locks are what a concurrent claim meets on these two; SQLite has one writer, which a claim waits for.
const dialects = DIALECTS.filter((d) => d !== 'sqlite');

describeEachDatabase('keys rotate-pan while a send claims: no Marked card is left out of the batch', (ctx) => {
  it('a claim that starts while a rotation page is being written takes that page\'s cards too', async () => {
    const { db } = ctx();
    const oldKey = newPanKey();
    const cipher = new PanCipher(newPanKey(), oldKey);
    await clearSendTables(db);
    await insertCards(db, new PanCipher(oldKey), 1, 8);
    const ids: number[] = (await db('card_contracts').orderBy('id').pluck('id')).map(Number);

    // Another writer (an import) holds card 6: the rotation's page has written cards 1-5 and waits for it.
    const importing = await db.transaction();
    await importing('card_contracts').where({ id: ids[5] }).forUpdate().first('id');
    let rotationWaits!: () => void;
    const waiting = new Promise<void>((resolve) => { rotationWaits = resolve; });
    const watch = (query: { sql: string; bindings?: unknown[] }) => {
      if (/^update/i.test(query.sql) && query.bindings?.includes(ids[5])) rotationWaits();
    };
    db.on('query', watch);
    let rotation: Promise<unknown> | undefined;
    let claim: Promise<Awaited<ReturnType<typeof claimBatch>>> | undefined;
    try {
      rotation = rotatePans(db, cipher, 8);
      await waiting;
      claim = claimBatch(db, {
        businessDate: '2026-11-26', maxCards: 1000, fileName: (seq) => `BX_PERSO_20261126_${String(seq).padStart(6, '0')}.dat.pgp`,
        screen: screenWith(cipher, () => ({ ok: true })), now: '2026-11-26T10:00:00.000Z',
      });
      // the claim has read its pages, or waits for the rotation (which waits for the import)
      await settledOrWaiting(ctx().database, claim, 2);
    } finally {
      db.off('query', watch);
      await importing.commit();
    }
    assert.deepEqual(await rotation, { rotated: 8, current: 0, refused: 0, refusedCards: [] });
    const { batch } = await claim;
    assert.ok(batch);
    const claimed = (await db('batch_items').where({ batch_id: batch.id }).orderBy('record_number').pluck('contract_id')).map(Number);
    // the import held card 6 itself: a claim may pass over a card an import is changing, not over the rotation's
    assert.deepEqual(claimed.filter((id) => id !== ids[5]), ids.filter((id) => id !== ids[5]), 'cards 1-5 and 7-8 are in the batch');
  });
}, dialects);
