import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importContracts } from '../../src/contracts/import.js';
import { listContracts } from '../../src/db/contracts.js';
import { eventsOf } from '../../src/db/events.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables } from '../outbound/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'bx-import-'));
function file(name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
}

describeEachDatabase('contracts import', (ctx) => {
  const key = newPanKey();
  const cipher = new PanCipher(key);
  // each test starts from an empty database and sets up what it needs
  beforeEach(async () => clearSendTables(ctx().db));
  const importCards = async (name: string, numbers: number[]) => {
    const result = await importContracts(db(), file(name, numbers.map((n) => JSON.stringify(makeCard(n))).join('\n')), cipher, silentLogger);
    assert.deepEqual([result.inserted, result.updated, result.skipped], [numbers.length, 0, []]);
  };
  const db = () => ctx().db;

  it('imports good JSON lines and reports bad ones with line and field', async () => {
    const { db } = ctx();
    const good = [1, 2, 3].map((n) => JSON.stringify({ ...makeCard(n), firstName: 'Jürgen' }));
    const lines = [
      good[0], '', good[1], '{"contractId":"12","plasticId":"1","pan":"41x1","expiry":"2911","lastName":"X","productCode":"P"}',
      'not json', JSON.stringify({ ...makeCard(4), cardForm: 'plastic' }), good[2], JSON.stringify({ ...makeCard(5), expiry: '11/29' }),
    ];
    const result = await importContracts(db, file('a.jsonl', lines.join('\n')), cipher, silentLogger);
    assert.equal(result.inserted, 3);
    assert.deepEqual(result.skipped.map((s) => [s.line, s.field]), [[4, 'pan'], [5, undefined], [6, 'cardForm'], [8, 'expiry']]);
    assert.ok(!JSON.stringify(result.skipped).includes('41x1'), 'the bad PAN is not echoed');
    const rows = await listContracts(db, {});
    assert.equal(rows.length, 3);
    assert.equal(cipher.decrypt(rows[0]!.panEnc, rows[0]!), makeCard(1).pan);
    assert.equal(rows[0]!.contractNumber, '1001');
  });

  it('upserts by contract id + plastic id and records status events', async () => {
    const { db } = ctx();
    await importCards('b0.jsonl', [1]);
    const updated = JSON.stringify({ ...makeCard(1), lastName: 'Renamed', productionStatus: 'Invalid' });
    const result = await importContracts(db, file('b.jsonl', updated), cipher, silentLogger);
    assert.deepEqual([result.inserted, result.updated], [0, 1]);
    const invalid = await listContracts(db, { status: 'Invalid' });
    assert.deepEqual(invalid.map((r) => r.contractNumber), ['1001']);
    const client = await db('card_contracts as c').join('clients as cl', 'cl.id', 'c.client_id').where('c.contract_number', '1001').first('cl.last_name');
    assert.equal(client.last_name, 'Renamed');
    const events = await eventsOf(db, invalid[0]!.id);
    assert.deepEqual(events.map((e) => [e.from_status, e.to_status]), [[null, 'Marked'], ['Marked', 'Invalid']]);
  });

  it('refuses to change a card already in a batch', async () => {
    const { db } = ctx();
    await importCards('c0.jsonl', [2]);
    const now = new Date().toISOString();
    await db('perso_batches').insert({ business_date: '2026-11-26', sequence: 1, file_name: 'F1', state: 'sent', created_at: now, updated_at: now });
    const batch = await db('perso_batches').where({ file_name: 'F1' }).first();
    await db('card_contracts').where({ contract_number: '1002' }).update({ batch_id: batch.id, production_status: 'InProduction' });
    const result = await importContracts(db, file('c.jsonl', JSON.stringify(makeCard(2))), cipher, silentLogger);
    assert.deepEqual([result.inserted, result.updated, result.skipped.length], [0, 0, 1]);
    assert.match(result.skipped[0]!.message, /InProduction/);
  });

  it('imports CSV with a header row, line numbers counted in the file', async () => {
    const { db } = ctx();
    const card = makeCard(10, { addressLine1: 'Straße 1, Hinterhaus' });
    const cols = Object.keys(card);
    const csvRow = (c: object) => cols.map((k) => `"${String((c as Record<string, unknown>)[k] ?? '').replace(/"/g, '""')}"`).join(',');
    const text = [cols.join(','), csvRow(card), csvRow({ ...makeCard(11), plasticId: 'abc' })].join('\n');
    const result = await importContracts(db, file('d.csv', text), cipher, silentLogger);
    assert.equal(result.inserted, 1);
    assert.deepEqual(result.skipped.map((s) => [s.line, s.field]), [[3, 'plasticId']]);
  });
});
