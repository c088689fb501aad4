import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import fc from 'fast-check';
import { FieldError, MAX_EXPIRY_YEARS_AHEAD, parseCardInput } from '../../src/contracts/fields.js';
import { MAX_LISTED_PROBLEMS, importContracts, type ImportProblem, type ImportResult } from '../../src/contracts/import.js';
import { listContracts } from '../../src/db/contracts.js';
import { InputError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables } from '../outbound/fixtures.js';
import { COLS, csvRow, importFiles, jsonl } from './import-files.js';

/**
 * What an import file from the card system may get wrong beyond one field's text: a misspelt field
 * name, a header the import cannot trust, an expiry no card has, UTF-16, line breaks of every kind,
 * one card twice, and millions of bad lines.
 */
const files = importFiles('bx-import-rules-');
after(() => files.remove());
const file = files.file;

describe('card fields: the expiry', () => {
  /** months from `now`'s month to 20YY-MM, computed by the calendar rather than by arithmetic on the text */
  const monthsAhead = (yymm: string, now: Date) => {
    const expiry = new Date(Date.UTC(2000 + Number(yymm.slice(0, 2)), Number(yymm.slice(2)) - 1, 1));
    return (expiry.getUTCFullYear() - now.getUTCFullYear()) * 12 + expiry.getUTCMonth() - now.getUTCMonth();
  };

  it(`is refused when its month is not 01–12 or it lies more than ${MAX_EXPIRY_YEARS_AHEAD} years ahead; a past one is left to the send`, () => {
    const now = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2088-12-31T23:59:59Z'), noInvalidDate: true });
    fc.assert(fc.property(fc.integer({ min: 0, max: 9999 }), now, (n, at) => {
      const expiry = String(n).padStart(4, '0');
      const month = n % 100;
      const valid = month >= 1 && month <= 12 && monthsAhead(expiry, at) <= MAX_EXPIRY_YEARS_AHEAD * 12;
      try {
        assert.equal(parseCardInput({ ...makeCard(1), expiry }, at).card.expiry, expiry);
        assert.ok(valid, `${expiry} accepted at ${at.toISOString()}`);
      } catch (err) {
        if (!(err instanceof FieldError)) throw err;
        assert.equal(err.field, 'expiry');
        assert.ok(!valid, `${expiry} refused at ${at.toISOString()}: ${err.message}`);
      }
    }), { numRuns: 5000 });
  });

  it('names the rule: 2099 is a typo, month 13 is no month; the card expiring in the tenth year is taken', () => {
    const now = new Date('2026-12-06T10:00:00Z');
    assert.throws(() => parseCardInput({ ...makeCard(1), expiry: '9912' }, now), /field expiry: 9912 is more than 10 years ahead \(2099\)/);
    assert.throws(() => parseCardInput({ ...makeCard(1), expiry: '2913' }, now), /field expiry: must be YYMM, a month 01–12 \(got "2913"\)/);
    assert.equal(parseCardInput({ ...makeCard(1), expiry: '3612' }, now).card.expiry, '3612');
    assert.throws(() => parseCardInput({ ...makeCard(1), expiry: '3701' }, now), /more than 10 years/);
  });
});

describeEachDatabase('contracts import, file-level rules', (ctx) => {
  const cipher = new PanCipher(newPanKey());
  const db = () => ctx().db;
  beforeEach(async () => clearSendTables(db()));
  const run = (path: string, onSkip?: (p: ImportProblem) => void) => importContracts(db(), path, cipher, silentLogger, { onSkip });
  const where = (result: ImportResult) => result.skipped.map((s) => [s.line, s.field]);
  const imported = async () => (await listContracts(db(), { limit: 10_000 })).map((r) => r.contractNumber).sort();
  const refusal = async (path: string) => {
    const err = await run(path).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof InputError, `refused whole: ${String(err)}`);
    assert.deepEqual(await imported(), [], 'nothing imported');
    return err.message;
  };

  it('a JSON line with a field the import does not know (a typo) is skipped naming it and the likely field, not imported without it', async () => {
    const { embossedName: _, ...card } = makeCard(1, { embossedName: 'JANE Q DOE' });
    const lines = [{ ...card, embosedName: 'JANE Q DOE' }, makeCard(2, { embossedName: 'JOHN DOE' }), { ...makeCard(3), PAN: '4111111111111111' }, { ...makeCard(4), 'x\u001b[2J': 1 }];
    const result = await run(file('jsonl', jsonl(lines)));
    assert.deepEqual(where(result), [[1, '"embosedName"'], [3, '"PAN"'], [4, '"x\\u001b[2J"']]);
    assert.match(result.skipped[0]!.message, /field "embosedName": is not a card field \(did you mean embossedName\?\)/);
    assert.match(result.skipped[1]!.message, /did you mean pan\?/);
    assert.ok(!JSON.stringify(result).includes('\u001b'), 'no terminal escape in a message');
    assert.deepEqual(await imported(), ['1002']);
  });

  it('a CSV header with an unknown, missing or doubled column refuses the file whole, naming the file, line 1 and the column', async () => {
    const typo = await refusal(file('csv', [COLS.join(',').replace('chipProfile', 'chipProfil'), csvRow(makeCard(1))].join('\n')));
    assert.match(typo, /f\d+\.csv: line 1 \(the header row\): column "chipProfil": is not a card field \(did you mean chipProfile\?\).*nothing was imported/);
    const missing = await refusal(file('csv', [COLS.filter((c) => c !== 'pan').join(','), csvRow(makeCard(1)).replace(`"${makeCard(1).pan}",`, '')].join('\n')));
    assert.match(missing, /line 1 \(the header row\): no column pan \(required\)/);
    const twice = await refusal(file('csv', [[...COLS, 'city'].join(','), csvRow(makeCard(1)) + ',"Paris"'].join('\n')));
    assert.match(twice, /column city is named twice/);
    const pan = await refusal(file('csv', [[...COLS, '4111111111111111'].join(','), csvRow(makeCard(1)) + ',x'].join('\n')));
    assert.ok(!pan.includes('4111111111111111'), pan);
  });

  it('a CSV separated by semicolons (a spreadsheet in another locale) or a JSON array are refused whole, saying what the file should be', async () => {
    const semicolons = await refusal(file('csv', [COLS.join(';'), csvRow(makeCard(1)).replace(/","/g, '";"')].join('\n')));
    assert.match(semicolons, /line 1 \(the header row\): one column only: the fields must be separated by commas, not by ";"/);
    const array = JSON.stringify([makeCard(1), makeCard(2)], null, 2);
    assert.match(await refusal(file('json', array)), /line 1: a JSON array, not JSON Lines \(one card object per line\); nothing was imported/);
  });

  it('a file in UTF-16 (a spreadsheet\'s "Unicode text") is refused whole, as CSV or JSON Lines', async () => {
    const utf16 = (text: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    assert.match(await refusal(file('csv', utf16([COLS.join(','), csvRow(makeCard(1))].join('\r\n')))), /is UTF-16.*save it as UTF-8/);
    assert.match(await refusal(file('jsonl', utf16(jsonl([makeCard(1)])))), /is UTF-16/);
  });

  it('CSV with a BOM and CRLF, CR-only or LF line breaks, and quoted line breaks: every row imported, lines counted as in an editor', async () => {
    const rows = [COLS.join(','), csvRow(makeCard(1, { addressLine1: 'Main Street 1\r\nBack house' })), csvRow(makeCard(2)), 'bad', csvRow(makeCard(3))];
    for (const eol of ['\r\n', '\r', '\n']) {
      await clearSendTables(db());
      const result = await run(file('csv', '\uFEFF' + rows.join(eol) + eol));
      assert.deepEqual([result.inserted, where(result)], [3, [[5, undefined]]], `line breaks ${JSON.stringify(eol)}`);
    }
    const stored = await db()('clients').where({ last_name: 'Doe1' }).first('address_line1');
    assert.equal(stored.address_line1, 'Main Street 1\r\nBack house', 'the quoted line break is kept');
  });

  it('any CSV text, quoted as a spreadsheet writes it, with any line breaks: every row read with its values, a bad row named by its line in the file', async function () {
    this.timeout(120_000);
    const text = fc.string({ unit: fc.constantFrom('a', 'é', ' ', '"', ',', ';', '\n', '\r\n', '\r', '\t', '😀'), maxLength: 12 });
    const card = fc.record({ firstName: text, addressLine1: text, city: text });
    const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;
    await fc.assert(fc.asyncProperty(fc.array(card, { minLength: 1, maxLength: 6 }), fc.constantFrom('\n', '\r\n', '\r'), fc.nat(), async (texts, eol, at) => {
      await clearSendTables(db());
      const rows = texts.map((t, i) => COLS.map((k) => quote(String({ ...makeCard(i + 1), ...t }[k as 'city'] ?? ''))).join(','));
      const bad = at % (rows.length + 1);
      rows.splice(bad, 0, '"x""y",z');
      const content = [COLS.join(','), ...rows].join(eol) + eol;
      // a CR alone breaks lines only in a file whose first line ends so
      const breaks = eol === '\r' ? /\r\n|\r|\n/ : /\n/;
      const badLine = 1 + ([COLS.join(','), ...rows.slice(0, bad)].join(eol) + eol).split(breaks).length - 1;
      const result = await run(file('csv', content));
      assert.deepEqual([result.inserted, where(result)], [texts.length, [[badLine, undefined]]]);
      const stored = await db()('card_contracts as c').join('clients as cl', 'cl.id', 'c.client_id').orderBy('c.id').select('cl.first_name', 'cl.address_line1', 'cl.city');
      assert.deepEqual(stored.map((r) => [r.first_name, r.address_line1, r.city]), texts.map((t) => [t.firstName.trim(), t.addressLine1.trim(), t.city.trim()]));
    }), { numRuns: 40 });
  });

  it('a stray CR inside an unquoted field of an LF or CRLF file is text, not a line break that cuts the row in two', async () => {
    for (const eol of ['\n', '\r\n']) {
      await clearSendTables(db());
      const rows = [COLS.join(','), csvRow(makeCard(1)).replace(/"/g, '').replace('Main Street', 'Main\rStreet'), 'bad', csvRow(makeCard(2))];
      const result = await run(file('csv', rows.join(eol)));
      assert.deepEqual([result.inserted, where(result)], [2, [[3, undefined]]], JSON.stringify(eol));
      const stored = await db()('clients').where({ last_name: 'Doe1' }).first('address_line1');
      assert.equal(stored.address_line1, '1 Main\rStreet');
    }
  });

  it('the same card twice in one file: the first line is imported, the later one skipped naming it, across chunks too', async () => {
    const lines = Array.from({ length: 510 }, (_, i) => makeCard(i + 1));
    lines[505] = makeCard(1, { pan: makeCard(999).pan }); // line 506, another chunk than line 1
    lines[2] = makeCard(2, { city: 'Paris' }); // line 3, the same chunk as line 2
    const path = file('jsonl', jsonl(lines));
    const result = await run(path);
    assert.deepEqual(where(result), [[3, undefined], [506, undefined]]);
    assert.match(result.skipped[0]!.message, /the same contractId and plasticId as an earlier line of this file/);
    const stored = await db()('card_contracts as c').join('clients as cl', 'cl.id', 'c.client_id').where('c.contract_number', '1002').first('cl.city');
    assert.equal(stored.city, 'Berlin');
    const rows = await listContracts(db(), { limit: 1000 });
    const first = rows.find((r) => r.contractNumber === '1001')!;
    assert.equal(cipher.decrypt(first.panEnc, first), makeCard(1).pan, 'the first line\'s PAN stays');
    // importing the file again updates each card once, and skips the same later lines again
    const again = await run(path);
    assert.deepEqual([again.inserted, again.updated, where(again)], [0, 508, [[3, undefined], [506, undefined]]]);
  });

  it('a card imported InProduction or Shipped (in no batch: never sent) is refused naming the field; Rejected cannot be made Invalid', async () => {
    const lines = [{ ...makeCard(1), productionStatus: 'InProduction' }, { ...makeCard(2), productionStatus: 'Shipped' }, { ...makeCard(3), productionStatus: 'Rejected' }, makeCard(4), { ...makeCard(5), productionStatus: 'Invalid' }];
    const result = await run(file('jsonl', jsonl(lines)));
    assert.deepEqual(where(result), [[1, 'productionStatus'], [2, 'productionStatus'], [3, 'productionStatus']]);
    assert.match(result.skipped[0]!.message, /InProduction is set by the send and the bureau's reports: a card is imported as Marked \(to produce\) or Invalid/);
    assert.deepEqual(await imported(), ['1004', '1005']);
    await db()('card_contracts').where({ contract_number: '1004' }).update({ production_status: 'Rejected', reject_code: 'R1', reject_reason: 'bad chip' });
    const again = await run(file('jsonl', jsonl([{ ...makeCard(4), productionStatus: 'Invalid' }, makeCard(5)])));
    assert.deepEqual([again.updated, where(again)], [1, [[1, undefined]]]);
    assert.match(again.skipped[0]!.message, /contract is Rejected: an import cannot make it Invalid/);
    const statuses = (await listContracts(db(), {})).map((r) => [r.contractNumber, r.status]);
    assert.deepEqual(statuses, [['1004', 'Rejected'], ['1005', 'Marked']]);
  });

  it(`a file of 200,000 bad lines: every one reported as it is found, the first ${MAX_LISTED_PROBLEMS} kept in the result`, async function () {
    this.timeout(120_000);
    const lines = Array.from({ length: 200_000 }, (_, i) => (i === 100_000 ? JSON.stringify(makeCard(1)) : `not json ${i}`));
    let told = 0;
    let last = 0;
    const result = await run(file('jsonl', lines.join('\n')), (p) => {
      told++;
      last = p.line;
    });
    assert.deepEqual([result.inserted, result.skippedCount, result.skipped.length, told, last], [1, 199_999, MAX_LISTED_PROBLEMS, 199_999, 200_000]);
    assert.equal(result.skipped.at(-1)!.line, MAX_LISTED_PROBLEMS);
  });
});
