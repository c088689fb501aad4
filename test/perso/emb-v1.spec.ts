import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PROJECT_ROOT } from '../../src/config/load.js';
import type { ContractForPerso } from '../../src/domain/contract.js';
import { ConfigError, InputError } from '../../src/errors.js';
import {
  embossName, embossText, explainFile, loadLayout, parsePersoFile, parsePersoRecord, personalizationFileName, prepareCard, renderPersoFile,
} from '../../src/perso/index.js';
import { withLuhn } from '../helpers/cards.js';
import { BUSINESS_DATE, collect, contract, fileContext, hostileFields, seededRandom } from './fixtures.js';

const GOLDEN = join(PROJECT_ROOT, 'test', 'perso', 'golden', 'emb-v1-golden.txt');

/** A field by its 1-based first and last position, exactly as section 4 of the interface document states it. */
const at = (line: string, from: number, to: number) => line.slice(from - 1, to);

/** Section 4's records: [first, last, type] in order, written out from the document. */
const INTERFACE = {
  header: [[1, 2, 'constant'], [3, 12, 'AN'], [13, 18, 'date'], [19, 24, 'N'], [25, 300, 'filler']],
  detail: [[1, 2, 'constant'], [3, 8, 'N'], [9, 27, 'AN'], [28, 31, 'N'], [32, 34, 'N'], [35, 55, 'AN'], [56, 76, 'AN'], [77, 88, 'N'],
    [89, 103, 'N'], [104, 138, 'AN'], [139, 173, 'AN'], [174, 182, 'AN'], [183, 207, 'AN'], [208, 209, 'AN'], [210, 217, 'AN'],
    [218, 218, 'N'], [219, 300, 'filler']],
  trailer: [[1, 2, 'constant'], [3, 8, 'N'], [9, 23, 'N'], [24, 300, 'filler']],
} as const;

/** A card for emb-v1: makeCard's product code CLASSIC01 is one character too long for this profile. */
const emb = (n: number, overrides: Partial<ContractForPerso> = {}) => contract(n, { productCode: 'CLASSIC1', ...overrides });

/** The golden cards: plain, accented, long names, and each country conversion (case too). */
function goldenContracts(): ContractForPerso[] {
  return [
    emb(1),
    emb(2, { firstName: 'Jürgen Øystein', lastName: 'Müller-Straße', addressLine1: 'Königsallee 12', city: 'Düsseldorf', companyName: 'Bäckerei Größe' }),
    emb(3, { firstName: 'John Jacob Jingleheimer', lastName: 'Schmidt', country: 'FRA', city: 'Saint-Étienne', deliveryMethod: 2 }),
    emb(4, { firstName: 'Иван', lastName: 'Петров', city: 'Москва', country: 'RUS', addressLine1: 'ул. Тверская 7', psn: 3 }),
    emb(5, { embossedName: 'Dr. Ana Núñez', addressLine2: 'Apt #4', postalCode: 'SW1A 1AA', city: 'London', country: 'gbr', productCode: 'gold02' }),
    emb(6, { contractId: '999999999999999', plasticId: '999999999999', pan: '6011000990139424', country: 'USA', postalCode: '10001-123', deliveryMethod: 4 }),
    emb(7, { firstName: 'Γιώργος', lastName: 'Παπαδόπουλος', country: 'GRC', city: 'Αθήνα', deliveryMethod: 3 }),
  ];
}

const embContext = (overrides = {}) => fileContext({ lineEnding: undefined, ...overrides });

describe('perso/emb-v1 (interface section 4)', () => {
  const layout = loadLayout('emb-v1');

  it('loads as the tables of section 4: 300 bytes, two-character types, CRLF, its own file name', () => {
    assert.equal(layout.recordLength, 300);
    assert.deepEqual(layout.lineEndings, ['CRLF']);
    assert.deepEqual([layout.header!.code, layout.detail.code, layout.trailer!.code], ['01', '02', '09']);
    for (const role of ['header', 'detail', 'trailer'] as const) {
      const fields = layout[role]!.fields.map((f) => [f.position, f.position + f.length - 1, f.type]);
      assert.deepEqual(fields, INTERFACE[role], role);
    }
    assert.equal(personalizationFileName(layout.fileNamePattern!, 'BXISSUER', '2026-11-26', 12), 'BXISSUER_EMB_20261126_000012.txt.pgp');
  });

  it('renders the golden cards byte for byte as the committed golden file, which the strict reader reads back', async () => {
    const bytes = await collect(renderPersoFile(layout, embContext(), goldenContracts()));
    assert.ok(bytes.equals(readFileSync(GOLDEN)), 'output differs from test/perso/golden/emb-v1-golden.txt');
    const records = await parsePersoFile(layout, [bytes.toString('latin1')]);
    assert.deepEqual(records.map((r) => r.type), ['header', ...Array(7).fill('detail'), 'trailer']);
    assert.deepEqual(records.slice(1, -1).map((r) => r.fields.country), ['DE', 'DE', 'FR', 'RU', 'GB', 'US', 'GR']);
    assert.deepEqual(records.slice(1, -1).map((r) => r.fields.embossLine1), [
      'JANE DOE1', 'J O MUELLER-STRASSE', 'JOHN JACOB J SCHMIDT', 'IVAN PETROV', 'DR. ANA NUNEZ', 'JANE DOE6', 'GIORGOS PAPADOPOYLOS',
    ]);
  });

  it('puts every field at its section 4 position', async () => {
    const card = emb(2, {
      contractId: '0000123', plasticId: '77', pan: '4111111111111111', psn: 3, expiry: '3001', firstName: 'Ana', lastName: 'Lopez',
      companyName: 'Acme & Co', addressLine1: 'Flat #2', addressLine2: 'Line 2', postalCode: '75001', city: 'Paris', country: 'FRA',
      productCode: 'GOLD01', deliveryMethod: 2,
    });
    const text = (await collect(renderPersoFile(layout, embContext(), [emb(1), card]))).toString('latin1');
    const lines = text.split('\r\n');
    assert.equal(lines.pop(), '', 'every record, the last too, ends with CRLF');
    assert.ok(lines.every((l) => l.length === 300 && !l.includes('\n')));
    const [h, , d, t] = lines as [string, string, string, string];
    const header: Array<[number, number, string]> = [[1, 2, '01'], [3, 12, 'BXISSUER  '], [13, 18, '261126'], [19, 24, '000007'], [25, 300, ' '.repeat(276)]];
    const detail: Array<[number, number, string]> = [
      [1, 2, '02'], [3, 8, '000002'], [9, 27, '4111111111111111   '], [28, 31, '3001'], [32, 34, '003'], [35, 55, 'ANA LOPEZ'.padEnd(21)],
      [56, 76, 'ACME & CO'.padEnd(21)], [77, 88, '000000000077'], [89, 103, '000000000000123'], [104, 138, 'FLAT #2'.padEnd(35)],
      [139, 173, 'LINE 2'.padEnd(35)], [174, 182, '75001    '], [183, 207, 'PARIS'.padEnd(25)], [208, 209, 'FR'], [210, 217, 'GOLD01  '],
      [218, 218, '2'], [219, 300, ' '.repeat(82)],
    ];
    const trailer: Array<[number, number, string]> = [[1, 2, '09'], [3, 8, '000002'], [9, 23, '000000000001124'], [24, 300, ' '.repeat(277)]];
    for (const [line, expected] of [[h, header], [d, detail], [t, trailer]] as const) {
      for (const [from, to, value] of expected) assert.equal(at(line, from, to), value, `${line.slice(0, 2)} ${from}–${to}`);
    }
  });

  describe('a card that does not fit emb-v1 is Invalid with the field named', () => {
    const invalid = (overrides: Partial<ContractForPerso>, field: string, reason: RegExp) => {
      const result = prepareCard(layout, emb(1, overrides), BUSINESS_DATE);
      assert.equal(result.ok, false, 'invalid');
      if (result.ok) return;
      assert.equal(result.field, field);
      assert.match(result.reason, new RegExp(`^${field}: `));
      assert.match(result.reason, reason);
    };
    it('a country with no alpha-2 code', () => invalid({ country: 'XKX' }, 'country', /"XKX" is not an ISO 3166 alpha-3 country code, so it has no alpha-2/));
    it('a country already alpha-2 (the contract holds alpha-3)', () => invalid({ country: 'DE' }, 'country', /"DE" is not an ISO 3166 alpha-3/));
    it('a name that does not fit 21 characters even as initials', () => invalid({ firstName: 'Ann', lastName: 'Wolfeschlegelsteinhausen' }, 'embossLine1', /does not fit 21 characters/));
    it('an address line over 35 characters', () => invalid({ addressLine1: '1234 Wolfeschlegelsteinhausenberger Street' }, 'addressLine1', /the field holds 35/));
    it('a product code over 8', () => invalid({ productCode: 'CLASSIC01' }, 'productCode', /"CLASSIC01" is 9 characters .* holds 8/));
    it('a company name over 21', () => invalid({ companyName: 'International Widgets Ltd' }, 'embossLine2', /holds 21/));
    it('an address line 3, for which the profile has no room', () => invalid({ addressLine3: 'c/o Smith' }, 'addressLine3', /layout emb-v1 has no field for it/));
    it('a virtual card', () => invalid({ cardForm: 'virtual' }, 'cardForm', /never sent/));
  });

  it('refuses a line ending the profile does not allow (ConfigError naming the layout)', () => {
    assert.throws(() => renderPersoFile(layout, embContext({ lineEnding: 'LF' }), []), (err: unknown) =>
      err instanceof ConfigError && /line ending LF is not one layout emb-v1 allows \(CRLF/.test(err.message));
  });

  describe('the strict reader', () => {
    let golden: string;
    before(() => (golden = readFileSync(GOLDEN, 'latin1')));
    const refused = async (text: string, record: number, message: RegExp) => {
      await assert.rejects(parsePersoFile(layout, [text]), (err: unknown) => {
        assert.ok(err instanceof InputError, String(err));
        assert.equal(err.location.record, record);
        assert.match(err.message, message);
        return true;
      });
    };
    it('refuses LF where the profile says CRLF', () => refused(golden.replace(/\r\n/g, '\n'), 1, /ends with LF; the layout says CRLF/));
    it('refuses a last record without its line ending', () => refused(golden.slice(0, -2), 9, /ends with no line ending/));
    it('refuses a country that is not alpha-2', () => {
      const lines = golden.split('\r\n');
      lines[1] = lines[1]!.slice(0, 207) + 'XX' + lines[1]!.slice(209);
      assert.throws(() => parsePersoRecord(layout, lines[1]!, 2), (err: unknown) =>
        err instanceof InputError && err.location.field === 'country' && /"XX" is not an ISO 3166 alpha-2/.test(err.message));
    });
    it('refuses a trailer whose count or hash total the file does not bear out', async () => {
      const lines = golden.split('\r\n').slice(0, -1);
      const withTrailer = (trailer: string) => [...lines.slice(0, -1), trailer].map((l) => l + '\r\n').join('');
      const trailer = lines[lines.length - 1]!;
      await assert.rejects(parsePersoFile(layout, [withTrailer(trailer.slice(0, 2) + '000006' + trailer.slice(8))]), (err: unknown) =>
        err instanceof InputError && err.location.record === 9 && err.location.field === 'detailCount' && /says 6, the file has 7/.test(err.message));
      await assert.rejects(parsePersoFile(layout, [withTrailer(trailer.slice(0, 22) + '2' + trailer.slice(23))]), (err: unknown) =>
        err instanceof InputError && err.location.field === 'hashTotal' && /says 6022, the file has 6021/.test(err.message));
    });
    it('refuses a file without its trailer, and records out of order', async () => {
      const lines = golden.split('\r\n').slice(0, -1);
      await refused(lines.slice(0, -1).map((l) => l + '\r\n').join(''), 8, /ends without its trailer/);
      await refused([lines[1], lines[0], ...lines.slice(2)].map((l) => l + '\r\n').join(''), 1, /a detail record here; expected header/);
    });
    it('explains each record with positions, PAN masked, and names a wrong line ending', async () => {
      const explained = [];
      for await (const line of explainFile(layout, GOLDEN)) explained.push(line);
      assert.deepEqual(explained.map((e) => [e.type, e.problem]), [['header', undefined], ...Array(7).fill(['detail', undefined]), ['trailer', undefined]]);
      const pan = explained[1]!.fields.find((f) => f.name === 'pan')!;
      assert.deepEqual([pan.position, pan.length, pan.value.trim()], [9, 19, '411111******0013']);
      assert.equal(explained[1]!.fields.find((f) => f.name === 'country')!.value, 'DE');
      const dir = mkdtempSync(join(tmpdir(), 'bx-emb-'));
      try {
        writeFileSync(join(dir, 'lf.txt'), golden.replace(/\r\n/g, '\n'));
        const headers = [];
        for await (const line of explainFile(layout, join(dir, 'lf.txt'), { line: 1 })) headers.push(line);
        assert.equal(headers[0]!.problem, 'ends with LF; the layout says CRLF');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    it('reads a file split into arbitrary chunks as the whole', async () => {
      await fc.assert(fc.asyncProperty(fc.array(fc.nat(golden.length), { maxLength: 20 }), async (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks = [0, ...points].map((from, i) => golden.slice(from, points[i] ?? golden.length));
        assert.deepEqual(await parsePersoFile(layout, chunks), await parsePersoFile(layout, [golden]));
      }), { numRuns: 50 });
    });
  });

  it('thousands of hostile contracts: each valid one renders as printable ASCII records of 300 bytes + CRLF that read back', async () => {
    const random = seededRandom(20261203);
    const cards = Array.from({ length: 3000 }, (_, i) => emb(i + 1, { ...hostileFields(random), addressLine3: random() < 0.7 ? '' : 'c/o X' }));
    const valid: ContractForPerso[] = [];
    for (const card of cards) {
      const result = prepareCard(layout, card, BUSINESS_DATE);
      if (result.ok) valid.push(card);
      else assert.match(result.reason, /^\w+: .+/, 'an invalid one has a reason naming its field');
    }
    assert.ok(valid.length > 500 && valid.length < cards.length, `a mix of valid and invalid (${valid.length} valid)`);
    const text = (await collect(renderPersoFile(layout, embContext(), valid))).toString('latin1');
    assert.match(text, /^(?:[\x20-\x7e]{300}\r\n)+$/);
    const records = await parsePersoFile(layout, [text]);
    assert.equal(records.length, valid.length + 2);
  });

  describe('properties', () => {
    /** ISO 3166-1, written out here rather than read from the code under test */
    const ALPHA2: Record<string, string> = {
      DEU: 'DE', FRA: 'FR', GBR: 'GB', USA: 'US', RUS: 'RU', GRC: 'GR', ESP: 'ES', NLD: 'NL', AUT: 'AT', CHE: 'CH', JPN: 'JP', BRA: 'BR', ZAF: 'ZA',
      IRL: 'IE', SWE: 'SE', POL: 'PL', PRT: 'PT', DNK: 'DK', SVK: 'SK', MNE: 'ME',
    };
    const ALPHA3 = Object.keys(ALPHA2);
    const word = fc.constantFrom('Anna', 'Jürgen', 'Øystein', 'Łukasz', 'Núñez', "O'Neil", 'Smith-Jones', 'Иван', 'Γιώργος', 'Zoë', 'Maximilian', 'Wolfe');
    const words = (max: number) => fc.array(word, { minLength: 1, maxLength: max }).map((w) => w.join(' '));
    const card = fc.record({
      contractId: fc.bigInt({ min: 1n, max: 10n ** 15n - 1n }).map(String),
      plasticId: fc.bigInt({ min: 1n, max: 10n ** 12n - 1n }).map(String),
      panBody: fc.stringMatching(/^[0-9]{11,18}$/),
      psn: fc.integer({ min: 0, max: 999 }),
      expiry: fc.tuple(fc.integer({ min: 27, max: 99 }), fc.integer({ min: 1, max: 12 })).map(([y, m]) => `${y}${String(m).padStart(2, '0')}`),
      firstName: words(4), lastName: words(2), companyName: fc.oneof(fc.constant(''), words(2)),
      addressLine1: words(3).map((w) => `12 ${w}`), addressLine2: fc.oneof(fc.constant(''), words(2)),
      postalCode: fc.stringMatching(/^[0-9A-Z]{0,9}$/), city: words(2), country: fc.constantFrom(...ALPHA3, ...ALPHA3.map((c) => c.toLowerCase())),
      productCode: fc.stringMatching(/^[A-Z0-9]{1,8}$/), deliveryMethod: fc.integer({ min: 1, max: 4 }),
    });
    const toContract = ({ panBody, ...c }: typeof card extends fc.Arbitrary<infer T> ? T : never, i: number): ContractForPerso =>
      emb(i + 1, { ...c, pan: withLuhn(panBody), embossedName: undefined });

    it('any card renders to 300-byte records, each ended by CRLF, or is Invalid with a field named', async () => {
      await fc.assert(fc.asyncProperty(fc.array(card, { maxLength: 30 }), async (cards) => {
        const contracts = cards.map(toContract);
        const valid = contracts.filter((c) => {
          const prepared = prepareCard(layout, c, BUSINESS_DATE);
          if (!prepared.ok) assert.match(prepared.reason, /^(embossLine1|embossLine2|addressLine1|addressLine2|city): /);
          return prepared.ok;
        });
        const text = (await collect(renderPersoFile(layout, embContext(), valid))).toString('latin1');
        assert.equal(text.length, (valid.length + 2) * 302);
        for (let i = 0; i < valid.length + 2; i++) {
          assert.equal(text.slice(i * 302 + 300, i * 302 + 302), '\r\n');
          assert.match(text.slice(i * 302, i * 302 + 300), /^[\x20-\x7e]{300}$/);
        }
      }), { numRuns: 60 });
    });

    it('a valid card reads back to the same fields', async () => {
      await fc.assert(fc.asyncProperty(card, async (c) => {
        const contract = toContract(c, 0);
        fc.pre(prepareCard(layout, contract, BUSINESS_DATE).ok);
        const text = (await collect(renderPersoFile(layout, embContext(), [contract]))).toString('latin1');
        const [, detail, trailer] = await parsePersoFile(layout, [text]);
        const digits = (value: string | number, length: number) => String(value).padStart(length, '0');
        assert.deepEqual(detail!.fields, {
          recordType: '02', recordSequence: '000001', pan: contract.pan, expiry: contract.expiry, psn: digits(contract.psn, 3),
          embossLine1: embossName(contract.firstName, contract.lastName, undefined, 21),
          embossLine2: embossText(contract.companyName, 'name'), plasticId: digits(contract.plasticId, 12), contractId: digits(contract.contractId, 15),
          addressLine1: embossText(contract.addressLine1, 'address'), addressLine2: embossText(contract.addressLine2, 'address'),
          postalCode: contract.postalCode, city: embossText(contract.city, 'address'), country: ALPHA2[contract.country.toUpperCase()],
          productCode: contract.productCode, deliveryMethod: String(contract.deliveryMethod),
        });
        assert.deepEqual(trailer!.fields, { recordType: '09', detailCount: '000001', hashTotal: digits(contract.contractId, 15) });
      }), { numRuns: 200 });
    });
  });
});
