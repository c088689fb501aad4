import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { rotatePans } from '../../src/db/pan-rotation.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { runCli } from '../helpers/cli.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { legacyStoredPan } from '../helpers/legacy-pan.js';
import { clearSendTables, insertCards } from '../outbound/fixtures.js';

interface PanColumns { id: number; contract_number: string; plastic_id: string; pan_enc: string; pan_last4: string; pan_hmac: string }

async function panColumns(db: Knex): Promise<PanColumns[]> {
  return db('card_contracts').select('id', 'contract_number', 'plastic_id', 'pan_enc', 'pan_last4', 'pan_hmac').orderBy('id');
}

async function storeLegacy(db: Knex, key: Buffer, n: number): Promise<void> {
  const stored = legacyStoredPan(key, makeCard(n).pan);
  await db('card_contracts').where({ contract_number: makeCard(n).contractId }).update({ pan_enc: stored.panEnc, pan_hmac: stored.panHmac });
}

/**
 * Cards 1–12 as a database may hold them before `keys rotate-pan`: the old format under the old key
 * (1–4) and under the current key (5–6), the card-bound format under the old key (7–9) and already
 * current (10–12).
 */
async function mixedCards(db: Knex, oldKey: Buffer, newKey: Buffer): Promise<void> {
  await clearSendTables(db);
  await insertCards(db, new PanCipher(oldKey), 1, 9);
  await insertCards(db, new PanCipher(newKey), 10, 3);
  for (const n of [1, 2, 3, 4]) await storeLegacy(db, oldKey, n);
  for (const n of [5, 6]) await storeLegacy(db, newKey, n);
}

/** Every row's PAN opens under `cipher` (no previous key) as its own card's, in the current format. */
async function assertAllCurrent(db: Knex, cipher: PanCipher, except: string[] = []): Promise<void> {
  for (const row of await panColumns(db)) {
    if (except.includes(row.contract_number)) continue;
    assert.ok(cipher.isCurrent(row.pan_enc), `contract ${row.contract_number} is current`);
    const n = Number(row.contract_number) - 1000;
    assert.equal(cipher.decrypt(row.pan_enc, { contractNumber: row.contract_number, plasticId: row.plastic_id, panLast4: row.pan_last4, panHmac: row.pan_hmac }), makeCard(n).pan);
  }
}

describeEachDatabase('keys rotate-pan: every PAN to the card-bound format under the current key', (ctx) => {
  it('moves old-format values and values under the previous key, a page at a time; a rerun has nothing left', async () => {
    const { db } = ctx();
    const oldKey = newPanKey();
    const newKey = newPanKey();
    await mixedCards(db, oldKey, newKey);
    const rotating = new PanCipher(newKey, oldKey);
    let largestPage = 0;
    const watch = (response: unknown, query: { sql: string }) => {
      if (/^select/i.test(query.sql) && /card_contracts/.test(query.sql) && Array.isArray(response)) largestPage = Math.max(largestPage, response.length);
    };
    db.on('query-response', watch);
    try {
      const result = await rotatePans(db, rotating, 5);
      assert.deepEqual(result, { rotated: 9, current: 3, refused: 0, refusedCards: [] });
    } finally {
      db.off('query-response', watch);
    }
    assert.equal(largestPage, 5, 'no more than a page of rows read at a time');
    await assertAllCurrent(db, new PanCipher(newKey));
    const before = await panColumns(db);
    assert.deepEqual(await rotatePans(db, rotating, 5), { rotated: 0, current: 12, refused: 0, refusedCards: [] });
    assert.deepEqual(await panColumns(db), before, 'a rerun writes nothing');
  });

  it('is resumable: a run stopped by a value under an unknown key keeps its finished pages; the rerun does the rest', async () => {
    const { db } = ctx();
    const oldKey = newPanKey();
    const newKey = newPanKey();
    await mixedCards(db, oldKey, newKey);
    const stranger = new PanCipher(newPanKey()).encrypt(makeCard(8).pan, { contractNumber: '1008', plasticId: '5008' });
    const original = (await panColumns(db)).find((r) => r.contract_number === '1008')!;
    await db('card_contracts').where({ id: original.id }).update({ pan_enc: stranger.panEnc });
    const rotating = new PanCipher(newKey, oldKey);
    await assert.rejects(rotatePans(db, rotating, 4), /encrypted under key \w+, not the configured key/);
    const afterStop = await panColumns(db);
    assert.deepEqual(afterStop.slice(0, 4).map((r) => rotating.isCurrent(r.pan_enc)), [true, true, true, true], 'the first page was committed');
    assert.ok(afterStop.slice(4, 8).every((r) => !rotating.isCurrent(r.pan_enc)), 'the page with the unknown key was not');
    await db('card_contracts').where({ id: original.id }).update({ pan_enc: original.pan_enc });
    assert.deepEqual(await rotatePans(db, rotating, 4), { rotated: 5, current: 7, refused: 0, refusedCards: [] });
    await assertAllCurrent(db, new PanCipher(newKey));
  });

  it('leaves a value moved from another card as it is and reports it; the others are rotated', async () => {
    const { db } = ctx();
    const oldKey = newPanKey();
    const newKey = newPanKey();
    await mixedCards(db, oldKey, newKey);
    const rows = await panColumns(db);
    const byNumber = (n: number) => rows.find((r) => r.contract_number === String(1000 + n))!;
    // an old-format value (not bound to its card) of card 2 copied into card 3; a card-bound one of 8 into 9
    await db('card_contracts').where({ id: byNumber(3).id }).update({ pan_enc: byNumber(2).pan_enc });
    await db('card_contracts').where({ id: byNumber(9).id }).update({ pan_enc: byNumber(8).pan_enc });
    const rotating = new PanCipher(newKey, oldKey);
    const result = await rotatePans(db, rotating, 5);
    assert.deepEqual([result.rotated, result.current, result.refused], [7, 3, 2]);
    assert.deepEqual(result.refusedCards.map((c) => [c.contractNumber, c.plasticId]), [['1003', '5003'], ['1009', '5009']]);
    assert.match(result.refusedCards[0]!.reason, /last four digits|look-up hash/);
    assert.match(result.refusedCards[1]!.reason, /integrity check/);
    assert.ok(!JSON.stringify(result).includes(makeCard(2).pan) && !JSON.stringify(result).includes(makeCard(8).pan), 'no PAN in the report');
    const after = await panColumns(db);
    assert.equal(after.find((r) => r.contract_number === '1003')!.pan_enc, byNumber(2).pan_enc, 'left as it was');
    assert.equal(after.find((r) => r.contract_number === '1009')!.pan_enc, byNumber(8).pan_enc, 'left as it was');
    await assertAllCurrent(db, new PanCipher(newKey), ['1003', '1009']);
  });

  it('through the CLI: counts on stdout, the refused cards on stderr without their PAN, exit 3 while any is left', async () => {
    const { db, database } = ctx();
    const oldKey = newPanKey();
    const newKey = newPanKey();
    await mixedCards(db, oldKey, newKey);
    const dir = mkdtempSync(join(tmpdir(), 'bx-rotate-'));
    try {
      const config = join(dir, 'config.yaml');
      writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\ndatabase: ${JSON.stringify(database)}\n`);
      const env = { BX_PAN_KEY: newKey.toString('base64'), BX_PAN_KEY_PREVIOUS: oldKey.toString('base64') };
      const five = (await panColumns(db)).find((r) => r.contract_number === '1005')!;
      const six = (await panColumns(db)).find((r) => r.contract_number === '1006')!;
      await db('card_contracts').where({ id: six.id }).update({ pan_enc: five.pan_enc });
      const first = await runCli(['--config', config, 'keys', 'rotate-pan', '--chunk', '4'], env);
      assert.equal(first.code, 3, first.stderr);
      assert.match(first.stdout, /^8 PANs re-encrypted under key \w{8} in the card-bound format, 3 already were, 1 left as they were/m);
      assert.match(first.stderr, /contract 1006 plastic 5006: left as it was: stored PAN does not match the card's last four digits/);
      assert.ok(!(first.stdout + first.stderr).includes(makeCard(5).pan));
      // the operator imports card 6 again (its PAN from the source): the next run has nothing left to do
      await insertCards(db, new PanCipher(newKey), 6, 1);
      const second = await runCli(['--config', config, 'keys', 'rotate-pan'], env);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /^0 PANs re-encrypted under key \w{8} in the card-bound format, 12 already were, 0 left/m);
      await assertAllCurrent(db, new PanCipher(newKey));
      const badChunk = await runCli(['--config', config, 'keys', 'rotate-pan', '--chunk', 'abc'], env);
      assert.equal(badChunk.code, 2, badChunk.stderr);
      assert.match(badChunk.stderr, /--chunk: a whole number/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
