// The card system writes card_contracts.production_status itself: a card it moves out of Marked while
// the card is being sent (claimed, encrypted or uploaded, not yet confirmed) is still in the file.
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { importContracts } from '../../src/contracts/import.js';
import { createLogger, silentLogger } from '../../src/log.js';
import type { SendFaultPoint } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { importFiles, jsonl } from '../contracts/import-files.js';
import { contractNumbers as ids, DATE, FIRST_FILE, inProductionEvents, insertCards } from './fixtures.js';
import { assertDeliveredExactlyOnce, remoteFiles, sendJobFor, useSendSuite } from './job-harness.js';

const cipher = new PanCipher(newPanKey());

/** A logger whose warnings and errors are kept, as parsed lines. */
function collectingLog() {
  const lines: Array<{ level: string; msg: string; cards?: number; listed?: Array<{ contractNumber: string; status: string }> }> = [];
  const destination = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(chunk.toString())); done(); } });
  return { log: createLogger({ destination, level: 'warn' }), lines };
}

/** What the card system writes, by hand, on card 1002 (its own UPDATE: no event row, no check). */
const cardSystemSets = (db: Knex, status: string, reason: string | null = null) =>
  db('card_contracts').where({ contract_number: '1002' }).update({ production_status: status, reject_code: reason && 'CANCEL', reject_reason: reason });

describeEachDatabase('send: a card whose status the card system changes between claim and confirm', (ctx) => {
  const suite = useSendSuite(() => ctx().db);

  for (const point of ['claimed', 'encrypted', 'uploaded'] as SendFaultPoint[]) {
    it(`set Invalid at '${point}': the file the bureau has holds it, so it is InProduction in that batch, and its re-marking sends nothing again`, async () => {
      const { db, sshd, keys, config } = suite();
      await insertCards(db, cipher, 1, 3);
      const faults = { at: async (p: SendFaultPoint) => { if (p === point) await cardSystemSets(db, 'Invalid', 'cancelled by the customer'); } };
      const { log, lines } = collectingLog();
      const result = await sendJobFor(db, cipher, config, sshd, { faults, log }).run({ businessDate: DATE });
      const warned = lines.find((l) => /set Invalid after their claim/.test(l.msg));
      assert.deepEqual(warned && [warned.level, warned.cards, warned.listed!.map((c) => `${c.contractNumber}:${c.status}`)], ['warn', 1, ['1002:Invalid']], 'the operator is told');
      assert.equal(result.cardsSent, 3);
      const card = await db('card_contracts').where({ contract_number: '1002' }).first();
      const batch = await db('perso_batches').where({ file_name: FIRST_FILE }).first();
      assert.equal(card.production_status, 'InProduction', 'the bureau has the card: it is not left Invalid');
      assert.equal(Number(card.batch_id), Number(batch.id), 'the card names the batch whose file holds it');
      assert.equal(card.reject_reason, null);
      await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 3));

      // the card system marks its cards again (as it may an Invalid card): nothing is in production twice
      await db('card_contracts').where({ production_status: 'Invalid' }).update({ production_status: 'Marked' });
      const again = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
      assert.equal(again.cardsSent, 0, 'no card sent a second time');
      assert.deepEqual(remoteFiles(sshd), [FIRST_FILE]);
      const history = await inProductionEvents(db);
      assert.deepEqual(history.get('1002'), [`Marked>batch:${FIRST_FILE}`], 'its history: InProduction once, by the file');
    });
  }

  it('set Invalid then Marked again before the confirm: sent once, InProduction', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 3);
    const faults = {
      at: async (p: SendFaultPoint) => {
        if (p === 'encrypted') await cardSystemSets(db, 'Invalid', 'on hold');
        if (p === 'uploaded') await cardSystemSets(db, 'Marked');
      },
    };
    await sendJobFor(db, cipher, config, sshd, { faults }).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 3));
  });

  it('set to a status only the bureau gives (Shipped): left as written and told, the other cards confirmed, never claimed again', async () => {
    const { db, sshd, config } = suite();
    await insertCards(db, cipher, 1, 3);
    const faults = { at: async (p: SendFaultPoint) => { if (p === 'uploaded') await cardSystemSets(db, 'Shipped'); } };
    const { log, lines } = collectingLog();
    const result = await sendJobFor(db, cipher, config, sshd, { faults, log }).run({ businessDate: DATE });
    assert.equal(result.batches[0]!.state, 'sent');
    const told = lines.find((l) => /a status only the bureau reports/.test(l.msg));
    assert.deepEqual(told && [told.level, told.cards, told.listed!.map((c) => `${c.contractNumber}:${c.status}`)], ['error', 1, ['1002:Shipped']], 'the operator is told');
    const statuses = await db('card_contracts').orderBy('id').select('contract_number', 'production_status');
    assert.deepEqual(statuses.map((r: any) => `${r.contract_number}:${r.production_status}`), ['1001:InProduction', '1002:Shipped', '1003:InProduction']);
    const again = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.equal(again.cardsSent, 0);
    assert.deepEqual(remoteFiles(sshd), [FIRST_FILE]);
  });

  for (const point of ['claimed', 'encrypted', 'uploaded', 'confirming'] as SendFaultPoint[]) {
    it(`an import of a card in flight (at '${point}'), to change its data or set it Invalid, is refused naming the file; the card is sent once as claimed`, async () => {
      const { db, sshd, keys, config } = suite();
      await insertCards(db, cipher, 1, 3);
      const files = importFiles('bx-late-import-');
      let imported: Awaited<ReturnType<typeof importContracts>> | undefined;
      let importing: ReturnType<typeof importContracts> | undefined;
      const faults = {
        at: async (p: SendFaultPoint) => {
          if (p !== point) return;
          const file = files.file('jsonl', jsonl([{ ...makeCard(2), lastName: 'Renamed', productionStatus: 'Invalid' }]));
          importing = importContracts(db, file, cipher, silentLogger);
          // inside the confirm's transaction the import waits for its commit (its row locks, SQLite's one connection)
          if (p !== 'confirming') await importing;
        },
      };
      try {
        await sendJobFor(db, cipher, config, sshd, { faults }).run({ businessDate: DATE });
        imported = await importing;
      } finally {
        files.remove();
      }
      // once confirmed, the card is in production: refused as such
      const expected = point === 'confirming'
        ? /contract is InProduction in batch \d+; its data can no longer change/
        : new RegExp(`contract is being sent in ${FIRST_FILE.replace(/\./g, '\\.')}; its data can no longer change`);
      assert.equal(imported?.skippedCount, 1, 'the line is refused');
      assert.match(imported!.skipped[0]!.message, expected);
      const card = await db('card_contracts as c').join('clients as cl', 'cl.id', 'c.client_id').where('c.contract_number', '1002').first('c.production_status', 'cl.last_name');
      assert.equal(card.production_status, 'InProduction');
      assert.notEqual(card.last_name, 'Renamed', 'the card keeps the data its file was made from');
      await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 3));
    });
  }
});
