import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import fc from 'fast-check';
import { MAX_JSON_LINE_BYTES, importContracts, type ImportResult } from '../../src/contracts/import.js';
import { listContracts } from '../../src/db/contracts.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard, withLuhn } from '../helpers/cards.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables } from '../outbound/fixtures.js';
import { COLS, csvRow, importFiles, jsonl } from './import-files.js';

/**
 * Import files as a card system or an operator may really hand them over: spreadsheet CSV with a
 * stray comma or quote, a BOM, Latin-1, a PAN pasted into the wrong column, control characters.
 * Each bad line is skipped with its line and field; the others are imported; no PAN leaks.
 */
const files = importFiles('bx-import-hostile-');
after(() => files.remove());
const file = files.file;
const TEXT_FIELDS = ['title', 'firstName', 'lastName', 'companyName', 'addressLine1', 'addressLine2', 'addressLine3', 'postalCode', 'city', 'productCode', 'chipProfile', 'embossedName'];

describeEachDatabase('contracts import, hostile input', (ctx) => {
  const cipher = new PanCipher(newPanKey());
  const db = () => ctx().db;
  beforeEach(async () => clearSendTables(db()));
  const run = (path: string) => importContracts(db(), path, cipher, silentLogger);
  const where = (result: ImportResult) => result.skipped.map((s) => [s.line, s.field]);
  const imported = async () => (await listContracts(db(), {})).map((r) => r.contractNumber).sort();
  /** every text column of the card and client tables, to look for a PAN stored outside pan_enc */
  const storedText = async () => {
    const rows = [...(await db()('clients').select()), ...(await db()('card_contracts').select()), ...(await db()('contract_events').select())];
    return rows.map((r) => Object.entries(r).filter(([k]) => k !== 'pan_enc' && k !== 'pan_hmac').map(([, v]) => String(v)).join('|')).join('\n');
  };

  it('a CSV row with a stray comma (one field too many) is skipped, not imported shifted by a column', async () => {
    const shifted = csvRow(makeCard(2)).replace('"2 Main Street"', '2 Main Street,Hinterhaus');
    const short = csvRow(makeCard(3)).split(',').slice(0, -2).join(',');
    const result = await run(file('csv', [COLS.join(','), csvRow(makeCard(1)), shifted, short, csvRow(makeCard(4))].join('\n')));
    assert.deepEqual(await imported(), ['1001', '1004']);
    assert.deepEqual(result.skipped.map((s) => s.line), [3, 4]);
    assert.match(result.skipped[0]!.message, /22 fields.*header has 21|21.*22/);
  });

  it('a CSV row with a stray quote is skipped with its line; the rows before and after it are imported', async () => {
    const bad = csvRow(makeCard(2)).replace('"2 Main Street"', '2 "Main" Street');
    const result = await run(file('csv', [COLS.join(','), csvRow(makeCard(1)), bad, csvRow(makeCard(3))].join('\n')));
    assert.deepEqual(await imported(), ['1001', '1003']);
    assert.deepEqual(result.skipped.map((s) => s.line), [3]);
  });

  it('a CSV quote never closed: the rows before it are imported and the rest is reported, not thrown', async () => {
    const plain = (card: object) => csvRow(card).replace(/"/g, '');
    const bad = plain(makeCard(2)).replace(/Y$/, '"Y'); // the last field's quote runs to the end of the file
    const result = await run(file('csv', [COLS.join(','), plain(makeCard(1)), bad, plain(makeCard(3)), plain(makeCard(4))].join('\n')));
    assert.deepEqual(await imported(), ['1001']);
    assert.equal(result.skipped.length, 1);
    assert.match(result.skipped[0]!.message, /quote/i);
    assert.match(result.skipped[0]!.message, /lines 3–5 were not imported/, 'names the lines it swallowed');
  });

  it('a JSON Lines file that starts with a UTF-8 BOM imports its first line', async () => {
    const result = await run(file('jsonl', '\uFEFF' + jsonl([makeCard(1), makeCard(2)])));
    assert.deepEqual([result.inserted, where(result)], [2, []]);
  });

  it('a JSON line over the limit is skipped unread, with its line; the lines around it, CRLF or LF, are imported', async () => {
    const long = `{"pad":"${'x'.repeat(3 * MAX_JSON_LINE_BYTES)}"}`;
    const lines = [JSON.stringify(makeCard(1)), long, `${JSON.stringify(makeCard(3))}\r`, '', JSON.stringify(makeCard(4))];
    const result = await run(file('jsonl', lines.join('\n')));
    assert.deepEqual(where(result), [[2, undefined]]);
    assert.match(result.skipped[0]!.message, new RegExp(`longer than ${MAX_JSON_LINE_BYTES} bytes`));
    assert.deepEqual(await imported(), ['1001', '1003', '1004']);
    // a file with no line break at all: one line, refused without being read whole
    const flat = await run(file('jsonl', `[${JSON.stringify(makeCard(5))},${long}]`));
    assert.deepEqual([flat.inserted, where(flat)], [0, [[1, undefined]]]);
  });

  it('a line in Latin-1 (not UTF-8) is skipped naming the field, not stored with replacement characters', async () => {
    const latin1 = Buffer.from(JSON.stringify(makeCard(2, { firstName: 'Jürgen' })), 'latin1');
    const result = await run(file('jsonl', Buffer.concat([Buffer.from(JSON.stringify(makeCard(1)) + '\n'), latin1, Buffer.from('\n' + JSON.stringify(makeCard(3)))])));
    assert.deepEqual(where(result), [[2, 'firstName']]);
    assert.match(result.skipped[0]!.message, /UTF-8/);
    assert.deepEqual(await imported(), ['1001', '1003']);
  });

  it('a PAN in JSON as a number too large to keep its digits is skipped, not stored rounded', async () => {
    const pan19 = withLuhn('601100099013942412');
    const line = JSON.stringify(makeCard(1)).replace(JSON.stringify(makeCard(1).pan), pan19);
    const result = await run(file('jsonl', line + '\n' + JSON.stringify(makeCard(2))));
    assert.deepEqual(where(result), [[1, 'pan']]);
    assert.deepEqual(await imported(), ['1002']);
  });

  it('a PAN pasted into any text field is refused naming the field, and is stored and echoed nowhere', async function () {
    this.timeout(120_000);
    const pan = fc.tuple(fc.constantFrom('4', '51', '37', '6011'), fc.integer({ min: 12, max: 19 })).chain(([prefix, length]) =>
      fc.stringMatching(new RegExp(`^\\d{${length - 1 - prefix.length}}$`)).map((body) => withLuhn(prefix + body)));
    const spacing = fc.constantFrom('', ' ', '-');
    await fc.assert(fc.asyncProperty(fc.constantFrom(...TEXT_FIELDS), pan, spacing, fc.constantFrom('', 'Card ', 'see '), async (field, digits, sep, before) => {
      await clearSendTables(db());
      const written = before + (sep ? digits.replace(/(\d{4})(?=\d)/g, `$1${sep}`) : digits);
      const card = { ...makeCard(1), [field]: written.slice(0, field === 'title' || field === 'postalCode' ? 20 : 100) };
      if (field === 'productCode' || field === 'chipProfile') card[field] = written.replace(/\D/g, '').slice(0, field === 'productCode' ? 10 : 20);
      const value = String(card[field as keyof typeof card]);
      const shown = value.replace(/\D/g, '');
      if (shown !== digits) return; // cut to the column's size, it is no PAN any more
      const result = await run(file('jsonl', jsonl([card, makeCard(2)])));
      assert.deepEqual(where(result), [[1, field]]);
      assert.deepEqual(await imported(), ['1002']);
      assert.ok(!JSON.stringify(result).replace(/[ -]/g, '').includes(shown), 'the PAN is not echoed');
      assert.ok(!(await storedText()).replace(/[ -]/g, '').includes(shown), 'the PAN is not stored');
    }), { numRuns: 25 });
  });

  it('any text in the name and address fields either imports as given or is skipped naming its field, never aborts the import', async function () {
    this.timeout(180_000);
    const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: fc.constantFrom('\u0000', '\u0007', '\u001b', '\u0085', '\n', '\t', '\u200b', '\ud800', '\udc00', '😀', 'é', 'a', '"', ','), maxLength: 10 }));
    await fc.assert(fc.asyncProperty(fc.constantFrom('firstName', 'lastName', 'addressLine1', 'city'), anyText, fc.constantFrom('jsonl', 'csv'), async (field, text, ext) => {
      await clearSendTables(db());
      const card = { ...makeCard(1), [field]: text };
      const content = ext === 'csv' ? [COLS.join(','), csvRow(card), csvRow(makeCard(2))].join('\n') : jsonl([card, makeCard(2)]);
      const result = await run(file(ext, content));
      if (result.skipped.length) {
        assert.deepEqual(result.skipped.map((s) => s.field), [field], JSON.stringify(result.skipped));
        assert.deepEqual(await imported(), ['1002']);
      } else {
        assert.deepEqual(await imported(), ['1001', '1002']);
        const column = field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
        const stored = await db()('card_contracts as c').join('clients as cl', 'cl.id', 'c.client_id').where('c.contract_number', '1001').first(`cl.${column} as value`);
        if (ext === 'jsonl') assert.equal(stored.value, text.trim(), 'stored as given');
      }
    }), { numRuns: 60 });
  });
});
