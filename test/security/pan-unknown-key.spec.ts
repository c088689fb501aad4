import { strict as assert } from 'node:assert';
import { rotatePans } from '../../src/db/pan-rotation.js';
import { PermanentError } from '../../src/errors.js';
import { PanCipher, PanIntegrityError } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables, insertCards } from '../outbound/fixtures.js';

/** A value under a key that is not configured fails the whole run: its message is all the operator has to find the row. */
const namesTheRowAndKeys = (keys: string[]) => (err: unknown) => err instanceof PermanentError && !(err instanceof PanIntegrityError)
  && /stored PAN is encrypted under key \w{8}, not the configured key/.test(err.message)
  && /contract 1008 plastic 5008/.test(err.message)
  && keys.every((k) => err.message.includes(k))
  && !err.message.includes(makeCard(8).pan);

describeEachDatabase('a stored PAN under a key that is not configured names its card', (ctx) => {
  it('keys rotate-pan stops naming the contract, the plastic, its key and the configured ones', async () => {
    const { db } = ctx();
    const oldKey = newPanKey();
    const stranger = new PanCipher(newPanKey());
    const rotating = new PanCipher(newPanKey(), oldKey);
    await clearSendTables(db);
    await insertCards(db, new PanCipher(oldKey), 1, 9);
    const moved = stranger.encrypt(makeCard(8).pan, { contractNumber: '1008', plasticId: '5008' });
    await db('card_contracts').where({ contract_number: '1008' }).update({ pan_enc: moved.panEnc });
    await assert.rejects(rotatePans(db, rotating, 4), namesTheRowAndKeys([stranger.keyId, rotating.keyId, new PanCipher(oldKey).keyId]));
  });
});

describe('a stored PAN under a key that is not configured, read anywhere', () => {
  it('names its card and the keys: the send, a listing or anything else reading it', () => {
    const only = new PanCipher(newPanKey());
    const stored = new PanCipher(newPanKey()).encrypt(makeCard(8).pan, { contractNumber: '1008', plasticId: '5008' });
    assert.throws(() => only.decrypt(stored.panEnc, { contractNumber: '1008', plasticId: '5008', panLast4: stored.panLast4 }), namesTheRowAndKeys([only.keyId]));
  });
});

