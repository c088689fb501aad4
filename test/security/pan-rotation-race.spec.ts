import { strict as assert } from 'node:assert';
import type { Knex } from 'knex';
import { openDatabase } from '../../src/db/connection.js';
import { rotatePans } from '../../src/db/pan-rotation.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { describeEachDatabase, newPanKey, type TestDatabase } from '../helpers/db.js';
import { clearSendTables, insertCards } from '../outbound/fixtures.js';

interface Write { pan_enc: string; pan_hmac: string }

/**
 * Another process's write of one row, made to land after the rotation read its page and before it
 * writes it: `write` when the rotation's first write of the page is sent. On PostgreSQL and MariaDB
 * the row is written (and locked) in a transaction beforehand, committed then; SQLite has one writer,
 * so the row is written then, synchronously, on a connection of its own.
 */
async function writerOf(test: TestDatabase, id: number, values: Write): Promise<{ write(): void; done(): Promise<void> }> {
  if (test.dialect === 'sqlite') {
    const other = openDatabase({ database: test.database });
    const conn = await other.client.acquireConnection() as { prepare(sql: string): { run(...args: unknown[]): unknown } };
    return {
      write: () => { conn.prepare('update card_contracts set pan_enc = ?, pan_hmac = ? where id = ?').run(values.pan_enc, values.pan_hmac, id); },
      done: async () => { await other.client.releaseConnection(conn); await other.destroy(); },
    };
  }
  const trx = await test.db.transaction();
  await trx('card_contracts').where({ id }).update(values);
  let committed: Promise<unknown> = Promise.resolve();
  return {
    write: () => { committed = trx.commit(); },
    done: async () => { await committed; if (!trx.isCompleted()) await trx.rollback(); },
  };
}

/** Runs `fn` with `onFirstWrite` called as its first write is sent (the page read, its transaction not yet writing). */
async function onFirstWrite<T>(db: Knex, onFirstWrite: () => void, fn: () => Promise<T>): Promise<T> {
  let fired = false;
  const watch = (query: { sql: string }) => {
    if (!fired && /^(insert|update|delete|begin immediate)\b/i.test(query.sql)) {
      fired = true;
      onFirstWrite();
    }
  };
  db.on('query', watch);
  try {
    return await fn();
  } finally {
    db.off('query', watch);
  }
}

describeEachDatabase('keys rotate-pan: a value rewritten between its read and its write', (ctx) => {
  it('by a process still on the old key: rotated too, not counted as current and left under the old key', async () => {
    const test = ctx();
    const { db } = test;
    const oldKey = newPanKey();
    const newKey = newPanKey();
    await clearSendTables(db);
    await insertCards(db, new PanCipher(oldKey), 1, 6);
    const ids: number[] = (await db('card_contracts').orderBy('id').pluck('id')).map(Number);
    // card 3 imported again by a host whose BX_PAN_KEY is still the old key (its PAN unchanged)
    const again = new PanCipher(oldKey).encrypt(makeCard(3).pan, { contractNumber: '1003', plasticId: '5003' });
    const writer = await writerOf(test, ids[2]!, { pan_enc: again.panEnc, pan_hmac: again.panHmac });
    let result;
    try {
      result = await onFirstWrite(db, () => writer.write(), () => rotatePans(db, new PanCipher(newKey, oldKey), 6));
    } finally {
      await writer.done();
    }
    const current = new PanCipher(newKey);
    for (const row of await db('card_contracts').orderBy('id').select('contract_number', 'plastic_id', 'pan_enc', 'pan_last4', 'pan_hmac')) {
      assert.ok(current.isCurrent(row.pan_enc), `contract ${row.contract_number} is under the new key`);
      const pan = current.decrypt(row.pan_enc, { contractNumber: row.contract_number, plasticId: row.plastic_id, panLast4: row.pan_last4, panHmac: row.pan_hmac });
      assert.equal(pan, makeCard(Number(row.contract_number) - 1000).pan);
    }
    assert.deepEqual(result, { rotated: 6, current: 0, refused: 0, refusedCards: [] });
  });

  it('by an import under the current key: counted as current, the import\'s value kept', async () => {
    const test = ctx();
    const { db } = test;
    const oldKey = newPanKey();
    const rotating = new PanCipher(newPanKey(), oldKey);
    await clearSendTables(db);
    await insertCards(db, new PanCipher(oldKey), 1, 6);
    const ids: number[] = (await db('card_contracts').orderBy('id').pluck('id')).map(Number);
    const imported = rotating.encrypt(makeCard(3).pan, { contractNumber: '1003', plasticId: '5003' });
    const writer = await writerOf(test, ids[2]!, { pan_enc: imported.panEnc, pan_hmac: imported.panHmac });
    let result;
    try {
      result = await onFirstWrite(db, () => writer.write(), () => rotatePans(db, rotating, 6));
    } finally {
      await writer.done();
    }
    assert.deepEqual(result, { rotated: 5, current: 1, refused: 0, refusedCards: [] });
    assert.equal(await db('card_contracts').where({ id: ids[2] }).first('pan_enc').then((r) => r.pan_enc), imported.panEnc);
  });
});
