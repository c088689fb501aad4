import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import type { SendFaultPoint } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { legacyStoredPan } from '../helpers/legacy-pan.js';
import type { SshdServer } from '../helpers/sshd.js';
import { insertCards } from '../outbound/fixtures.js';
import { contractsByStatus, decryptedRecords, type BureauKeys } from '../outbound/harness.js';
import { assertDeliveredExactlyOnce, remoteFiles, sendJobFor, useSendSuite, withSftp } from '../outbound/job-harness.js';

const DATE = '2026-11-26';
const key = newPanKey();
const cipher = new PanCipher(key);
const panOf = (n: number) => makeCard(n).pan;

describeEachDatabase('a PAN ciphertext moved to another card is never sent', (ctx) => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  let config: Config;

  useSendSuite(() => ctx().db, (suite) => {
    ({ sshd, keys, config } = suite);
  });

  it('two contracts\' pan_enc swapped: both Invalid with field pan, the rest delivered, neither PAN in the file gpg reads', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 6);
    const rows = await db('card_contracts').select('id', 'contract_number', 'pan_enc').orderBy('id');
    const [two, four] = [rows[1], rows[3]];
    await db('card_contracts').where({ id: two.id }).update({ pan_enc: four.pan_enc });
    await db('card_contracts').where({ id: four.id }).update({ pan_enc: two.pan_enc });
    // an old-format value (bound to the key only) of card 1 copied into card 5: its last four digits differ
    await db('card_contracts').where({ contract_number: '1005' }).update({ pan_enc: legacyStoredPan(key, panOf(1)).panEnc });

    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });

    assert.equal(result.cardsSent, 3);
    assert.deepEqual(result.invalid.map((i) => [i.contractNumber, i.reason.split(':')[0]]), [['1002', 'pan'], ['1004', 'pan'], ['1005', 'pan']]);
    assert.match(result.invalid[0]!.reason, /^pan: stored PAN failed its integrity check: it is not this card's/);
    assert.match(result.invalid[2]!.reason, /^pan: stored PAN does not match the card's last four digits/);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1003', '1006']);
    assert.deepEqual((await contractsByStatus(db)).Invalid, ['1002', '1004', '1005']);
    const reasons = await db('card_contracts').where({ production_status: 'Invalid' }).orderBy('id').select('reject_code', 'reject_reason');
    assert.deepEqual(reasons.map((r: any) => [r.reject_code, r.reject_reason.split(':')[0]]), [['INVALID', 'pan'], ['INVALID', 'pan'], ['INVALID', 'pan']]);

    const [file] = remoteFiles(sshd);
    const clear = decryptedRecords(keys, join(sshd.root, 'inbound', file!)).join('\n');
    for (const n of [2, 4, 5]) assert.ok(!clear.includes(panOf(n)), `card ${n}'s PAN is not in the file`);
    assert.equal(clear.split(panOf(1)).length - 1, 1, "card 1's PAN once, in its own record only");
    for (const n of [3, 6]) assert.ok(clear.includes(panOf(n)), `card ${n}'s PAN is in the file`);
    const stored = JSON.stringify(reasons);
    for (const n of [1, 2, 4]) assert.ok(!stored.includes(panOf(n)), 'no PAN in the stored reasons');
  });

  it('swapped after the claim (the file to be made again on resume): the batch fails naming the card, nothing is uploaded', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 3);
    const stopAtClaimed = { at: (point: SendFaultPoint) => { if (point === 'claimed') throw new Error('injected at claimed'); } };
    await assert.rejects(sendJobFor(db, cipher, config, sshd, { faults: stopAtClaimed }).run({ businessDate: DATE }), /injected/);
    const rows = await db('card_contracts').select('id', 'pan_enc').orderBy('id');
    await db('card_contracts').where({ id: rows[0].id }).update({ pan_enc: rows[2].pan_enc });
    await db('card_contracts').where({ id: rows[2].id }).update({ pan_enc: rows[0].pan_enc });
    await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }), /claimed contract 1001 plastic 5001: stored PAN failed its integrity check/);
    assert.deepEqual(remoteFiles(sshd), []);
    const batch = await db('perso_batches').first();
    assert.equal(batch.state, 'claimed');
    assert.match(batch.last_error, /claimed contract 1001/);
  });
});
