import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { ConfigError, InputError } from '../../src/errors.js';
import { explainRecord, loadLayout, parsePersoFile, parsePersoRecord, personalizationFileName } from '../../src/perso/index.js';

const golden = readFileSync(join(PROJECT_ROOT, 'test', 'perso', 'golden', 'perso-v1-golden.dat'), 'latin1').split('\n').slice(0, -1);
const [HEADER, DETAIL] = [golden[0]!, golden[1]!];
const put = (line: string, position: number, text: string) => line.slice(0, position - 1) + text + line.slice(position - 1 + text.length);

describe('perso/parse', () => {
  const layout = loadLayout('perso-v1');

  it('reads back every record of the golden file by field name', () => {
    const records = golden.map((line, i) => parsePersoRecord(layout, line, i + 1));
    assert.deepEqual(records.map((r) => r.type), ['header', ...Array(7).fill('detail'), 'trailer']);
    assert.deepEqual(records[1]!.fields, {
      recordType: 'D', recordSequence: '0000001', contractId: '000000000001001', plasticId: '000000005001', pan: '4111110000000013',
      psn: '002', expiry: '2911', requestType: 'NEW', embossLine1: 'JANE DOE1', embossLine2: '', track1Name: 'DOE1/JANE', title: 'MR',
      firstName: 'JANE', lastName: 'DOE1', addressLine1: '1 MAIN STREET', addressLine2: '', addressLine3: '', postalCode: '10115',
      city: 'BERLIN', country: 'DEU', productCode: 'CLASSIC01', chipProfile: 'VSDC-CL-01', deliveryMethod: '1', pinMailer: 'Y',
    });
    assert.equal(records[8]!.fields.hashTotal, '000000000006021');
  });

  it('reads the whole golden file with either line ending perso-v1 allows, checking the trailer against the records', async () => {
    const text = golden.map((l) => l + '\n').join('');
    for (const file of [text, text.replace(/\n/g, '\r\n')]) {
      const records = await parsePersoFile(layout, [file]);
      assert.equal(records.length, 9);
      assert.deepEqual(records[8]!.fields, { recordType: 'T', detailCount: '0000007', totalRecords: '0000009', hashTotal: '000000000006021', businessDate: '20261126', fileSequence: '000007' });
    }
    await assert.rejects(parsePersoFile(layout, [text], 'CRLF'), /ends with LF; the layout says CRLF/);
    await assert.rejects(parsePersoFile(layout, [text.replace(/\n/, '\r\n')]), (err: unknown) =>
      err instanceof InputError && err.location.record === 2 && /ends with LF, the records before it with CRLF/.test(err.message));
    const noTotal = [...golden.slice(0, -1), golden[8]!.slice(0, 8) + '0000008' + golden[8]!.slice(15)].map((l) => l + '\n').join('');
    await assert.rejects(parsePersoFile(layout, [noTotal]), (err: unknown) => err instanceof InputError && err.location.field === 'totalRecords');
  });

  describe('is strict: an InputError naming record and field', () => {
    const refused = (line: string, location: { record: number; field?: string }, message: RegExp) => {
      assert.throws(() => parsePersoRecord(layout, line, location.record), (err: unknown) => {
        assert.ok(err instanceof InputError, String(err));
        assert.deepEqual(err.location, location);
        assert.match(err.message, message);
        return true;
      });
    };
    it('a record of the wrong length', () => refused(DETAIL.slice(0, 449), { record: 2 }, /449 characters long, the layout says 450/));
    it('a non-ASCII character', () => refused(put(DETAIL, 80, 'É'), { record: 2 }, /character at position 80 is not printable ASCII/));
    it('a control character', () => refused(put(DETAIL, 80, '\t'), { record: 2 }, /position 80/));
    it('an unknown record type', () => refused(put(DETAIL, 1, 'X'), { record: 2 }, /unknown record type "X"/));
    it('letters in an N field', () => refused(put(DETAIL, 9, 'A'), { record: 2, field: 'contractId' }, /must be 15 digits/));
    it('a wrong constant', () => refused(put(HEADER, 2, 'PERSOREZ'), { record: 1, field: 'fileType' }, /should be "PERSOREQ"/));
    it('text in the filler', () => refused(put(DETAIL, 440, 'X'), { record: 2, field: 'filler' }, /filler must be spaces/));
    it('an AN field not left-aligned', () => refused(put(DETAIL, 344, ' BERLIN'), { record: 2, field: 'city' }, /must be left-aligned/));
    it('a blank required field', () => refused(put(DETAIL, 374, '   '), { record: 2, field: 'country' }, /required but blank/));
    it('a value outside the allowed ones', () => refused(put(DETAIL, 408, 'X'), { record: 2, field: 'pinMailer' }, /"X" is not one of Y, N/));
    it('an impossible date', () => refused(put(HEADER, 26, '20261131'), { record: 1, field: 'businessDate' }, /not a date YYYYMMDD/));
    it('a PAN problem without the PAN in the message', () => {
      assert.throws(() => parsePersoRecord(layout, put(DETAIL, 36, ' 4111110000000013  '), 2), (err: unknown) => {
        assert.match((err as Error).message, /field pan: 411111\*+0013 must be left-aligned/);
        return true;
      });
    });
  });

  describe('explainRecord', () => {
    it('lists each field with position, length and value, the PAN masked', () => {
      const explained = explainRecord(layout, DETAIL, 2);
      assert.equal(explained.type, 'detail');
      assert.equal(explained.problem, undefined);
      const pan = explained.fields.find((f) => f.name === 'pan')!;
      assert.deepEqual(pan, { name: 'pan', position: 36, length: 19, type: 'AN', value: '411111******0013' });
      assert.ok(!JSON.stringify(explained).includes('4111110000000013'));
      assert.deepEqual(explained.fields.find((f) => f.name === 'city'), { name: 'city', position: 344, length: 30, type: 'AN', value: 'BERLIN'.padEnd(30) });
    });

    it('still shows a broken record, with the problem, and masks a PAN found in the wrong field', () => {
      const broken = put(DETAIL, 72, '4111110000000013');
      const explained = explainRecord(layout, put(broken, 440, 'X'), 5);
      assert.match(explained.problem!, /record 5, field filler/);
      assert.ok(!JSON.stringify(explained).includes('4111110000000013'));
    });
  });

  describe('personalizationFileName', () => {
    it('fills issuer, date and 6-digit sequence into the pattern', () => {
      assert.equal(personalizationFileName('{issuer}_PERSO_{date}_{seq}.dat.pgp', 'BXISSUER', '2026-11-26', 1), 'BXISSUER_PERSO_20261126_000001.dat.pgp');
      assert.equal(personalizationFileName('{issuer}_PERSO_{date}_{seq}.dat.pgp', 'BX', '2026-01-02', 123456), 'BX_PERSO_20260102_123456.dat.pgp');
    });

    it('refuses an unknown placeholder, a sequence outside 1–999999, a path', () => {
      assert.throws(() => personalizationFileName('{issuer}_{day}.dat', 'BX', '2026-11-26', 1), (err: unknown) => err instanceof ConfigError && /unknown placeholder \{day\}/.test(err.message));
      assert.throws(() => personalizationFileName('{issuer}_{seq}', 'BX', '2026-11-26', 0), /not 1–999999/);
      assert.throws(() => personalizationFileName('{issuer}_{seq}', 'BX', '2026-11-26', 1_000_000), /not 1–999999/);
      assert.throws(() => personalizationFileName('../{issuer}_{seq}', 'BX', '2026-11-26', 1), /not a plain file name/);
      assert.throws(() => personalizationFileName('{issuer}_{seq}', 'BX', '26-11-2026', 1), /not YYYY-MM-DD/);
    });
  });
});
