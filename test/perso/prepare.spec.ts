import assert from 'node:assert/strict';
import type { ContractForPerso } from '../../src/domain/contract.js';
import { loadLayout, parsePersoRecord, prepareCard, renderPersoFile, type Prepared } from '../../src/perso/index.js';
import { BUSINESS_DATE, collect, contract, detailRecord, fileContext, hostileFields, seededRandom } from './fixtures.js';

describe('perso/prepare', () => {
  const layout = loadLayout('perso-v1');
  const prepare = (overrides: Partial<ContractForPerso>): Prepared => prepareCard(layout, contract(1, overrides), BUSINESS_DATE);
  const invalid = (overrides: Partial<ContractForPerso>, field: string, reason: RegExp) => {
    const result = prepare(overrides);
    assert.ok(!result.ok, `expected ${field} to be refused`);
    assert.equal(result.field, field);
    assert.match(result.reason, reason);
    assert.ok(result.reason.startsWith(`${field}: `), `the reason names the field: ${result.reason}`);
  };

  it('accepts a valid physical card and pads its values to the layout', () => {
    const result = prepare({});
    assert.ok(result.ok);
    assert.equal(result.card.id, 1);
    assert.equal(result.card.contractId, '1001');
    const record = result.card.record.toString('latin1');
    assert.equal(record.length, 450);
    assert.equal(record.slice(0, 8), 'D0000000', 'the record sequence is left to the renderer');
    assert.equal(record.slice(35, 54), '4111110000000013   ', 'the PAN at position 36, padded');
    assert.equal(record.slice(71, 97), 'JANE DOE1'.padEnd(26), 'emboss line 1 uppercased');
  });

  describe('each Invalid reason', () => {
    it('a virtual card', () => invalid({ cardForm: 'virtual' }, 'cardForm', /virtual card is never sent/));

    it('a PAN failing the Luhn check, masked in the reason', () => {
      invalid({ pan: '4111111111111112' }, 'pan', /^pan: PAN 411111\*{6}1112 fails the Luhn check$/);
    });

    it('a PAN of fewer than 12 or more than 19 digits', () => {
      invalid({ pan: '41111111113' }, 'pan', /has 11 digits; 12–19 expected/);
      invalid({ pan: '41111111111111111113' }, 'pan', /has 20 digits; 12–19 expected/);
    });

    it('a PAN with something else than digits', () => invalid({ pan: '4111-1111-1111-1111' }, 'pan', /must be digits only/));

    it('a reason never holds the clear PAN', () => {
      for (const pan of ['4111111111111112', '41111111111111111113', '4111 1111 1111 1112', '4111111111111111X']) {
        const result = prepare({ pan });
        assert.ok(!result.ok);
        assert.ok(!result.reason.includes(pan) && !result.reason.includes(pan.replace(/\D/g, '')), result.reason);
      }
    });

    it('an expiry before the business date\'s month, or not YYMM', () => {
      invalid({ expiry: '2610' }, 'expiry', /2610 \(YYMM\) is before the business date's month 2611/);
      invalid({ expiry: '2613' }, 'expiry', /"2613" is not an expiry YYMM/);
      invalid({ expiry: '261' }, 'expiry', /is not an expiry YYMM/);
      invalid({ expiry: '26AB' }, 'expiry', /must be digits only/);
      assert.ok(prepare({ expiry: '2611' }).ok, 'the business date\'s own month is still valid');
    });

    it('a country that is not ISO 3166 alpha-3', () => {
      invalid({ country: 'XYZ' }, 'country', /"XYZ" is not an ISO 3166 alpha-3 country code/);
      invalid({ country: 'DE' }, 'country', /not an ISO 3166 alpha-3/);
      assert.ok(prepare({ country: 'deu' }).ok, 'uppercased first');
    });

    it('a required field empty after the embossing rules', () => {
      invalid({ firstName: '', lastName: '😀😀' }, 'embossLine1', /required but empty/);
      invalid({ lastName: '😀😀' }, 'track1Name', /required but empty/);
      invalid({ addressLine1: '   ' }, 'addressLine1', /required but empty/);
      invalid({ city: '' }, 'city', /required but empty/);
      invalid({ productCode: '' }, 'productCode', /required but empty/);
      invalid({ contractId: '' }, 'contractId', /required but empty/);
    });

    it('a value that does not fit its field after the rules', () => {
      invalid({ city: 'Llanfairpwllgwyngyllgogerychwyrndrobwll' }, 'city', /is 39 characters after the embossing rules; the field holds 30/);
      invalid({ addressLine2: 'Straße '.repeat(7) }, 'addressLine2', /the field holds 40/);
      invalid({ contractId: '1234567890123456' }, 'contractId', /16 characters .* holds 15/);
    });

    it('a name that does not fit even with given names as initials', () => {
      invalid({ firstName: 'Ann', lastName: 'Wolfeschlegelsteinhausenbergerdorff' }, 'embossLine1', /does not fit 26 characters even with given names as initials/);
    });

    it('a code holding characters a code may not have (never altered)', () => {
      invalid({ productCode: 'CLÄSSIC' }, 'productCode', /may hold only A-Z 0-9/);
      invalid({ chipProfile: 'VSDC_CL' }, 'chipProfile', /may hold only A-Z 0-9/);
    });

    it('a value outside the allowed ones', () => {
      invalid({ deliveryMethod: 5 }, 'deliveryMethod', /"5" is not one of 1, 2, 3, 4/);
      invalid({ pinMailer: 'X' as 'Y' }, 'pinMailer', /"X" is not one of Y, N/);
      invalid({ requestType: 'NEWISH' as 'NEW' }, 'requestType', /is not one of NEW, REISSUE, RENEW, REPLACE, REPRINT/);
    });

    it('an identifier that is not digits', () => invalid({ plasticId: '12A4' }, 'plasticId', /"12A4" must be digits only/));
  });

  it('renders names the same whether plain (one-pass path) or not (string rules)', () => {
    const record = (overrides: Partial<ContractForPerso>) => {
      const result = prepare(overrides);
      assert.ok(result.ok);
      const text = result.card.record.toString('latin1');
      return { emboss: text.slice(71, 97).trimEnd(), track1: text.slice(123, 149).trimEnd(), first: text.slice(153, 183).trimEnd() };
    };
    assert.deepEqual(record({ firstName: 'ann marie', lastName: 'smith' }), { emboss: 'ANN MARIE SMITH', track1: 'SMITH/ANN MARIE', first: 'ANN MARIE' });
    assert.deepEqual(record({ firstName: ' Ann  Marie ', lastName: 'Smith ' }), { emboss: 'ANN MARIE SMITH', track1: 'SMITH/ANN MARIE', first: 'ANN MARIE' });
    assert.deepEqual(record({ firstName: 'Ann/Marie', lastName: 'Smith' }), { emboss: 'ANN/MARIE SMITH', track1: 'SMITH/ANN MARIE', first: 'ANN/MARIE' });
    assert.deepEqual(record({ firstName: '', lastName: 'Madonna' }), { emboss: 'MADONNA', track1: 'MADONNA/', first: '' });
    assert.deepEqual(record({ firstName: 'Maximilian Alexander', lastName: 'Schmidt-Rottluff' }), { emboss: 'M A SCHMIDT-ROTTLUFF', track1: 'SCHMIDT-ROTTLUFF/M A', first: 'MAXIMILIAN ALEXANDER' });
  });

  it('prepares the record the interface spells out, field by field, and the same one every time', () => {
    const card = contract(5, { firstName: 'Jürgen Øystein', lastName: 'Müller' });
    const expected = detailRecord({
      recordSequence: '0', contractId: '1005', plasticId: '5005', pan: '4111110000000054', psn: '2', expiry: '2911',
      requestType: 'NEW', embossLine1: 'JUERGEN OYSTEIN MUELLER', embossLine2: '', track1Name: 'MUELLER/JUERGEN OYSTEIN',
      title: 'MR', firstName: 'JUERGEN OYSTEIN', lastName: 'MUELLER', addressLine1: '5 MAIN STREET', addressLine2: '',
      addressLine3: '', postalCode: '10115', city: 'BERLIN', country: 'DEU', productCode: 'CLASSIC01', chipProfile: 'VSDC-CL-01',
      deliveryMethod: '1', pinMailer: 'Y',
    });
    for (let i = 0; i < 2; i++) {
      const result = prepareCard(layout, card, BUSINESS_DATE);
      assert.ok(result.ok);
      assert.deepEqual([result.card.id, result.card.contractId, result.card.record.toString('latin1')], [5, '1005', expected]);
    }
    assert.deepEqual(prepareCard(layout, { ...card, city: '' }, BUSINESS_DATE),
      { ok: false, field: 'city', reason: 'city: is required but empty after the embossing rules' });
  });

  describe('hostile names', () => {
    it('thousands of generated contracts: each valid one renders as a pure ASCII record of exactly 450 bytes', async () => {
      const random = seededRandom(20261126);
      const cards = Array.from({ length: 5000 }, (_, i) => contract(i + 1, hostileFields(random)));
      const valid: ContractForPerso[] = [];
      for (const card of cards) {
        const result = prepareCard(layout, card, BUSINESS_DATE);
        if (result.ok) valid.push(card);
        else assert.match(result.reason, /^\w+: .+/, 'an invalid one has a reason naming its field');
      }
      assert.ok(valid.length > 1000 && valid.length < cards.length, `a mix of valid and invalid (${valid.length} valid)`);
      const bytes = await collect(renderPersoFile(layout, fileContext(), valid));
      for (const byte of bytes) assert.ok(byte === 0x0a || (byte >= 0x20 && byte <= 0x7e), `byte ${byte} is not printable ASCII`);
      const lines = bytes.toString('latin1').split('\n');
      assert.equal(lines.pop(), '');
      assert.equal(lines.length, valid.length + 2);
      lines.forEach((line, i) => {
        assert.equal(line.length, 450);
        parsePersoRecord(layout, line, i + 1);
      });
    });
  });
});
