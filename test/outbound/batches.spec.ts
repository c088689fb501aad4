import { strict as assert } from 'node:assert';
import {
  batchContracts, confirmBatch, markEncrypted, markUploaded, recordBatchFailure, unfinishedBatches,
} from '../../src/db/batches.js';
import { nextSequence } from '../../src/db/claim.js';
import { contractStory } from '../../src/db/contract-story.js';
import { recordEvents } from '../../src/db/events.js';
import { claimBatch, type ClaimParams } from '../../src/outbound/claim-step.js';
import { NOT_IN_UNSENT_BATCH } from '../../src/db/unsent-batch.js';
import { listContracts, upsertContract } from '../../src/db/contracts.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { DIALECTS, describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables, inProductionEvents, insertCards, screenWith } from './fixtures.js';

const cipher = new PanCipher(newPanKey());
const NOW = '2026-11-26T10:00:00.000Z';

function params(overrides: Partial<ClaimParams> = {}): ClaimParams {
  return {
    businessDate: '2026-11-26', maxCards: 1000, fileName: (seq) => `BX_PERSO_20261126_${String(seq).padStart(6, '0')}.dat.pgp`,
    screen: screenWith(cipher, (c) => (c.lastName === 'BAD' ? { ok: false, field: 'lastName', reason: 'too long' } : { ok: true })),
    now: NOW, pageSize: 7, ...overrides,
  };
}

const encrypted = { clearSha256: 'a'.repeat(64), clearSize: 10, encSha256: 'b'.repeat(64), encSize: 20, outboxPath: '/x', recordCount: 0, hashTotal: '0' };

describeEachDatabase('batches repository', (ctx) => {
  beforeEach(async () => clearSendTables(ctx().db));

  it('claims valid Marked cards in id order with record numbers 1..n and sets invalid ones aside with events', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 20, (n) => (n % 5 === 0 ? { lastName: 'BAD' } : {}));
    await insertCards(db, cipher, 100, 2, () => ({}), 'Shipped');
    const { batch, invalid, invalidCount } = await claimBatch(db, params());
    assert.ok(batch);
    assert.equal(invalidCount, 4);
    assert.equal(batch.state, 'claimed');
    assert.equal(batch.sequence, 1);
    assert.equal(batch.recordCount, 16);
    assert.deepEqual(invalid.map((i) => i.contractNumber), ['1005', '1010', '1015', '1020']);
    assert.equal(invalid[0]!.reason, 'lastName: too long');
    const expectedIds = [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 18, 19].map((n) => String(1000 + n));
    const items = await db('batch_items as bi').join('card_contracts as c', 'c.id', 'bi.contract_id')
      .where('bi.batch_id', batch.id).orderBy('bi.record_number').select('bi.record_number', 'c.contract_number');
    assert.deepEqual(items.map((i: any) => Number(i.record_number)), expectedIds.map((_, i) => i + 1));
    assert.deepEqual(items.map((i: any) => i.contract_number), expectedIds);
    assert.equal(batch.hashTotal, String(expectedIds.reduce((s, id) => s + Number(id), 0)));
    const bad = await db('card_contracts').where({ contract_number: '1005' }).first();
    assert.equal(bad.production_status, 'Invalid');
    assert.equal(bad.reject_code, 'INVALID');
    assert.equal(bad.reject_reason, 'lastName: too long');
    const events = await db('contract_events').where({ contract_id: bad.id, to_status: 'Invalid' });
    assert.equal(events.length, 1);
    assert.equal((await claimBatch(db, params())).batch, null, 'nothing left to claim');
  });

  it('splits by maxCards and continues the daily sequence; another date starts at 1', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 10);
    const first = await claimBatch(db, params({ maxCards: 4 }));
    const second = await claimBatch(db, params({ maxCards: 4 }));
    const third = await claimBatch(db, params({ maxCards: 4 }));
    assert.deepEqual([first, second, third].map((o) => [o.batch?.sequence, o.batch?.recordCount]), [[1, 4], [2, 4], [3, 2]]);
    assert.equal(third.batch!.fileName, 'BX_PERSO_20261126_000003.dat.pgp');
    assert.equal(await nextSequence(db, '2026-11-26'), 4);
    assert.equal(await nextSequence(db, '2026-11-27'), 1);
  });

  it('reads pages ahead without ever taking more than maxCards: each card ends in exactly one batch or Invalid', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 40, (n) => (n % 4 === 0 ? { lastName: 'BAD' } : {}));
    const sizes: number[] = [];
    for (;;) {
      const { batch } = await claimBatch(db, params({ pageSize: 3, maxCards: 7 }));
      if (!batch) break;
      sizes.push(batch.recordCount);
      const numbers = await db('batch_items').where({ batch_id: batch.id }).orderBy('record_number').pluck('record_number');
      assert.deepEqual(numbers.map(Number), Array.from({ length: batch.recordCount }, (_, i) => i + 1));
    }
    assert.deepEqual(sizes, [7, 7, 7, 7, 2], 'thirty valid cards in files of seven');
    const items: number[] = (await db('batch_items').pluck('contract_id')).map(Number);
    assert.equal(new Set(items).size, 30, 'no card in two batches');
    const count = async (status: string) => Number((await db('card_contracts').where({ production_status: status }).count({ n: '*' }))[0]!.n);
    assert.equal(await count('Invalid'), 10);
    const free = await db('card_contracts as c').where({ production_status: 'Marked' }).whereRaw(NOT_IN_UNSENT_BATCH).count({ n: '*' });
    assert.equal(Number(free[0]!.n), 0, 'no Marked card left free to claim');
  });

  it('reads a batch back in record order with PANs decrypted', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 9);
    const { batch } = await claimBatch(db, params());
    const read = [];
    for await (const c of batchContracts(db, batch!.id, cipher, 4)) read.push(c);
    assert.deepEqual(read.map((c) => c.contractId), ['1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008', '1009']);
    assert.match(read[0]!.pan, /^411111\d{10}$/);
  });

  it('moves claimed → encrypted → uploaded → sent and refuses out-of-order moves', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 3);
    const { batch } = await claimBatch(db, params());
    await assert.rejects(markUploaded(db, batch!.id, NOW), /cannot move to uploaded: it is claimed/);
    await assert.rejects(confirmBatch(db, batch!.id, null, NOW), /cannot move to sent/);
    await markEncrypted(db, batch!.id, { ...encrypted, recordCount: 3 }, NOW);
    await recordBatchFailure(db, batch!.id, 'connection refused', NOW);
    await markUploaded(db, batch!.id, NOW);
    assert.deepEqual((await unfinishedBatches(db)).map((b) => [b.state, b.attempts, b.lastError]), [['uploaded', 1, 'connection refused']]);
    assert.equal(await confirmBatch(db, batch!.id, '/archive/x', NOW), 3);
    assert.deepEqual(await unfinishedBatches(db), []);
    const statuses = await db('card_contracts').distinct('production_status');
    assert.deepEqual(statuses.map((s: any) => s.production_status), ['InProduction']);
    assert.equal(Number((await db('contract_events').where({ to_status: 'InProduction' }).count({ n: '*' }).first())!.n), 0, 'no event row per card: the sent batch is their event');
    const history = await inProductionEvents(db);
    assert.deepEqual([...history.values()], [1, 2, 3].map(() => [`Marked>batch:${batch!.fileName}`]));
    await assert.rejects(confirmBatch(db, batch!.id, null, NOW), /it is sent/);
  });

  it('writes a card\'s own row only at the confirm; until then the unsent batch holds it, and the import refuses to change it', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 3);
    const { batch } = await claimBatch(db, params());
    const rows = async () => db('card_contracts').orderBy('id').select('production_status', 'batch_id');
    assert.deepEqual((await rows()).map((r: any) => [r.production_status, r.batch_id]), [['Marked', null], ['Marked', null], ['Marked', null]]);
    assert.equal((await claimBatch(db, params())).batch, null, 'the unsent batch holds its cards');
    const edit = await db.transaction((trx) => upsertContract(trx, makeCard(2, { city: 'ELSEWHERE' }), 'Marked', cipher));
    assert.deepEqual(edit, { kind: 'refused', reason: 'contract is being sent in BX_PERSO_20261126_000001.dat.pgp; its data can no longer change' });
    assert.deepEqual((await listContracts(db, {})).map((c) => c.batchFile), [1, 2, 3].map(() => batch!.fileName), 'contracts list names the file being sent');
    await markEncrypted(db, batch!.id, { ...encrypted, recordCount: 3 }, NOW);
    await markUploaded(db, batch!.id, NOW);
    await confirmBatch(db, batch!.id, null, NOW);
    assert.deepEqual((await rows()).map((r: any) => [r.production_status, Number(r.batch_id)]), [1, 2, 3].map(() => ['InProduction', batch!.id]));
  });

  it('claims again a card the bureau rejected and the card system marked again, its batch_id still naming the batch that carried it', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 2);
    const { batch: first } = await claimBatch(db, params());
    await markEncrypted(db, first!.id, { ...encrypted, recordCount: 2 }, NOW);
    await markUploaded(db, first!.id, NOW);
    await confirmBatch(db, first!.id, null, NOW);
    // as the card-management system would: Rejected by a report, then Marked again, batch_id left alone
    await db('card_contracts').where({ contract_number: '1002' }).update({ production_status: 'Marked' });
    const { batch: second } = await claimBatch(db, params());
    assert.equal(second!.recordCount, 1);
    const items = await db('batch_items as bi').join('card_contracts as c', 'c.id', 'bi.contract_id').where('bi.batch_id', second!.id).pluck('c.contract_number');
    assert.deepEqual(items, ['1002']);
    await recordEvents(db, [{ contract_id: Number((await db('card_contracts').where({ contract_number: '1002' }).first('id')).id), from_status: 'InProduction', to_status: 'Marked', source_kind: 'operator', source_id: null, detail: null }], NOW);
    await markEncrypted(db, second!.id, { ...encrypted, recordCount: 1 }, NOW);
    await markUploaded(db, second!.id, NOW);
    await confirmBatch(db, second!.id, null, NOW);
    const [story] = await contractStory(db, '1002');
    assert.deepEqual(story!.events.map((e) => [e.from, e.to, e.source, e.sourceName]), [
      [null, 'Marked', 'import', null], ['Marked', 'InProduction', 'batch', first!.fileName],
      ['InProduction', 'Marked', 'operator', null], ['Marked', 'InProduction', 'batch', second!.fileName],
    ], 'the card\'s history tells both sends in their place among its own events');
  });
});

/** A claim kept open once it has claimed its cards (its `onClaimed` waits) until `release`; `entered` resolves when it waits. */
function heldOpen(): { onClaimed: () => Promise<void>; entered: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let enter!: () => void;
  const entered = new Promise<void>((resolve) => (enter = resolve));
  return { onClaimed: async () => { enter(); await gate; }, entered, release };
}

// Not declared for SQLite: its one connection and single writer serialize every claim, so two
// claims can never overlap there (README, "Databases"); the servers are where overlap can happen.
describeEachDatabase('batches repository: concurrent claims', (ctx) => {
  beforeEach(async () => clearSendTables(ctx().db));

  it('two claims at once (no lease) run one after the other: never a card in two batches nor a file name reused', async function () {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 10);
    const held = heldOpen();
    const first = claimBatch(db, params({ maxCards: 5, onClaimed: held.onClaimed }));
    await held.entered; // the first claim holds its rows and its uncommitted batch
    const second = claimBatch(db, params({ maxCards: 10 })).then((o) => o, (err: Error) => err);
    await new Promise((r) => setTimeout(r, 300));
    held.release();
    assert.equal((await first).batch!.recordCount, 5);
    const outcome = await second;
    // the second waited for the first to end (claims are serialized), then took the rest
    assert.ok(!(outcome instanceof Error), `the second claim failed: ${outcome instanceof Error ? outcome.message : ''}`);
    assert.deepEqual([outcome.batch!.recordCount, outcome.batch!.sequence], [5, 2]);
    const items = await db('batch_items').select('contract_id');
    assert.equal(new Set(items.map((i: any) => Number(i.contract_id))).size, items.length);
    const again = await claimBatch(db, params({ maxCards: 10 }));
    const total = Number((await db('batch_items').count({ n: '*' }))[0]!.n);
    assert.equal(total, 10, `all cards claimed exactly once (last claim: ${again.batch?.recordCount ?? 0})`);
  });

  it('an import of a card an open claim has read waits for the claim, then is refused: the card is in the file', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 3);
    const held = heldOpen();
    const claim = claimBatch(db, params({ onClaimed: held.onClaimed }));
    await held.entered; // the claim has read card 2, its items not yet committed
    let settled = false;
    const edit = db.transaction((trx) => upsertContract(trx, makeCard(2, { city: 'ELSEWHERE' }), 'Marked', cipher)).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, false, 'the import waits while the claim is open');
    held.release();
    const { batch } = await claim;
    assert.deepEqual(await edit, { kind: 'refused', reason: `contract is being sent in ${batch!.fileName}; its data can no longer change` });
    const city = await db('clients as cl').join('card_contracts as c', 'c.client_id', 'cl.id').where('c.contract_number', '1002').first('cl.city');
    assert.notEqual(city.city, 'ELSEWHERE', 'the card keeps the data its file was made from');
  });
}, DIALECTS.filter((d) => d !== 'sqlite'));
