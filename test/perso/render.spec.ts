import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { InputError } from '../../src/errors.js';
import { loadLayout, renderPersoFile, type PersoTotals } from '../../src/perso/index.js';
import { collect, contract, detailRecord, fileContext, goldenContracts } from './fixtures.js';

const GOLDEN = join(PROJECT_ROOT, 'test', 'perso', 'golden', 'perso-v1-golden.dat');

/** A field by its 1-based position and length, exactly as the interface document states it. */
const at = (line: string, position: number, length: number) => line.slice(position - 1, position - 1 + length);

describe('perso/render', () => {
  const layout = loadLayout('perso-v1');

  it('renders the fixed contracts byte for byte as the committed golden file', async () => {
    const bytes = await collect(renderPersoFile(layout, fileContext(), goldenContracts()));
    assert.ok(bytes.equals(readFileSync(GOLDEN)), 'output differs from test/perso/golden/perso-v1-golden.dat');
  });

  it('renders the same bytes with CRLF line endings when configured', async () => {
    const bytes = await collect(renderPersoFile(layout, fileContext({ lineEnding: 'CRLF' }), goldenContracts()));
    assert.equal(bytes.toString('latin1'), readFileSync(GOLDEN, 'latin1').replace(/\n/g, '\r\n'));
  });

  it('puts every header field at its interface position', async () => {
    const [header] = (await collect(renderPersoFile(layout, fileContext(), []))).toString('latin1').split('\n');
    assert.equal(header!.length, 450);
    assert.equal(at(header!, 1, 1), 'H');
    assert.equal(at(header!, 2, 8), 'PERSOREQ');
    assert.equal(at(header!, 10, 8), 'BXISSUER');
    assert.equal(at(header!, 18, 8), 'BUREAU01');
    assert.equal(at(header!, 26, 8), '20261126');
    assert.equal(at(header!, 34, 6), '160509', 'creation time HHMMSS UTC from the file context');
    assert.equal(at(header!, 40, 6), '000007');
    assert.equal(at(header!, 46, 3), '001');
    assert.equal(at(header!, 49, 1), 'T');
    assert.equal(at(header!, 50, 401), ' '.repeat(401));
  });

  it('puts every detail field at its interface position', async () => {
    const card = contract(2, {
      contractId: '0000123', plasticId: '77', pan: '4111111111111111', psn: 3, expiry: '3001', requestType: 'REPLACE',
      title: 'Dr', firstName: 'Ana', lastName: 'Lopez', companyName: 'Acme & Co', addressLine1: 'Flat #2', addressLine2: 'Line 2',
      addressLine3: 'Line 3', postalCode: '75001', city: 'Paris', country: 'FRA', productCode: 'GOLD01', chipProfile: 'MCHIP-4',
      deliveryMethod: 2, pinMailer: 'N',
    });
    const lines = (await collect(renderPersoFile(layout, fileContext(), [contract(1), card]))).toString('latin1').split('\n');
    const d = lines[2]!;
    assert.equal(d.length, 450);
    const expected: Array<[number, number, string]> = [
      [1, 1, 'D'], [2, 7, '0000002'], [9, 15, '000000000000123'], [24, 12, '000000000077'], [36, 19, '4111111111111111   '],
      [55, 3, '003'], [58, 4, '3001'], [62, 10, 'REPLACE   '], [72, 26, 'ANA LOPEZ'.padEnd(26)], [98, 26, 'ACME & CO'.padEnd(26)],
      [124, 26, 'LOPEZ/ANA'.padEnd(26)], [150, 4, 'DR  '], [154, 30, 'ANA'.padEnd(30)], [184, 30, 'LOPEZ'.padEnd(30)],
      [214, 40, 'FLAT #2'.padEnd(40)], [254, 40, 'LINE 2'.padEnd(40)], [294, 40, 'LINE 3'.padEnd(40)], [334, 10, '75001     '],
      [344, 30, 'PARIS'.padEnd(30)], [374, 3, 'FRA'], [377, 10, 'GOLD01    '], [387, 20, 'MCHIP-4'.padEnd(20)], [407, 1, '2'],
      [408, 1, 'N'], [409, 42, ' '.repeat(42)],
    ];
    for (const [position, length, value] of expected) assert.equal(at(d, position, length), value, `field at ${position}, length ${length}`);
  });

  it('puts every trailer field at its interface position, hash total modulo 10^15', async () => {
    const cards = [contract(1, { contractId: '999999999999999' }), contract(2, { contractId: '999999999999999' }), contract(3, { contractId: '5' })];
    const stream = renderPersoFile(layout, fileContext(), cards);
    const lines = (await collect(stream)).toString('latin1').split('\n');
    assert.equal(lines.length, 6, 'header, 3 details, trailer, and the empty rest after the last LF');
    const t = lines[4]!;
    assert.equal(t.length, 450);
    assert.equal(at(t, 1, 1), 'T');
    assert.equal(at(t, 2, 7), '0000003');
    assert.equal(at(t, 9, 7), '0000005');
    assert.equal(at(t, 16, 15), '000000000000003', '(2 × 999999999999999 + 5) mod 10^15');
    assert.equal(at(t, 31, 8), '20261126');
    assert.equal(at(t, 39, 6), '000007');
    assert.equal(at(t, 45, 406), ' '.repeat(406));
    assert.deepEqual(stream.totals, { records: 3, hashTotal: '3' });
  });

  it('numbers detail records 1..n in iteration order and reports totals by event and property', async () => {
    async function* source() {
      for (let n = 1; n <= 3000; n++) yield contract(n);
    }
    const stream = renderPersoFile(layout, fileContext(), source());
    let fromEvent: PersoTotals | undefined;
    stream.on('totals', (t: PersoTotals) => (fromEvent = t));
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    assert.ok(chunks.length > 1, 'large output comes in several chunks');
    assert.ok(chunks.length < 100, 'chunks are large, not one per record');
    const lines = Buffer.concat(chunks).toString('latin1').split('\n').slice(1, -2);
    assert.equal(lines.length, 3000);
    lines.forEach((line, i) => {
      assert.equal(at(line, 2, 7), String(i + 1).padStart(7, '0'));
      assert.equal(at(line, 9, 15), String(1001 + i).padStart(15, '0'));
    });
    const expectedHash = String((3000 * 1001 + (2999 * 3000) / 2) % 1e15);
    assert.deepEqual(fromEvent, { records: 3000, hashTotal: expectedHash });
    assert.deepEqual(stream.totals, fromEvent);
  });

  it('renders an empty batch as header and trailer only', async () => {
    const stream = renderPersoFile(layout, fileContext(), []);
    const text = (await collect(stream)).toString('latin1');
    assert.deepEqual(text.split('\n').map((l) => l[0]), ['H', 'T', undefined]);
    assert.deepEqual(stream.totals, { records: 0, hashTotal: '0' });
  });

  it('renders the golden contracts\' details as the interface spells them out, field by field', async () => {
    const lines = (await collect(renderPersoFile(layout, fileContext(), goldenContracts()))).toString('latin1').split('\n');
    const common = { psn: '2', expiry: '2911', requestType: 'NEW', title: 'MR', embossLine2: '', addressLine2: '', addressLine3: '',
      postalCode: '10115', city: 'BERLIN', country: 'DEU', productCode: 'CLASSIC01', chipProfile: 'VSDC-CL-01', deliveryMethod: '1', pinMailer: 'Y' };
    const expected: Record<number, string> = {
      // ICAO transliteration; the name shortened given names first to fit 26
      2: detailRecord({ ...common, recordSequence: '2', contractId: '1002', plasticId: '5002', pan: '4111110000000021',
        embossLine1: 'JUERGEN O MUELLER-STRASSE', embossLine2: 'BAECKEREI GROESSE & SOEHNE', track1Name: 'MUELLER-STRASSE/JUERGEN O',
        title: 'FRAU', firstName: 'JUERGEN OYSTEIN', lastName: 'MUELLER-STRASSE', addressLine1: 'KOENIGSALLEE 12', city: 'DUESSELDORF' }),
      // every given name down to its initial
      3: detailRecord({ ...common, recordSequence: '3', contractId: '1003', plasticId: '5003', pan: '4111110000000039',
        embossLine1: 'J J J SCHMIDTINGTON-SMYTHE', track1Name: 'SCHMIDTINGTON-SMYTHE/J J J', firstName: 'JOHN JACOB JINGLEHEIMER',
        lastName: 'SCHMIDTINGTON-SMYTHE', addressLine1: '3 MAIN STREET', deliveryMethod: '2', pinMailer: 'N' }),
      // an embossed-name override; '#' kept in an address; an empty chip profile
      5: detailRecord({ ...common, recordSequence: '5', contractId: '1005', plasticId: '5005', pan: '4111110000000054', requestType: 'REPLACE',
        embossLine1: 'DR. ANA NUNEZ', track1Name: "O'NUNEZ/ANA MARIA", firstName: 'ANA MARIA', lastName: "O'NUNEZ",
        addressLine1: '5 MAIN STREET', addressLine2: 'APT #4', addressLine3: 'C/O LUKASZ', postalCode: 'SW1A 1AA', country: 'GBR', chipProfile: '' }),
      // the widest identifiers; Greek transliterated; delivery back to the issuer
      6: detailRecord({ ...common, recordSequence: '6', contractId: '999999999999999', plasticId: '999999999999', pan: '6011000990139424',
        expiry: '2611', requestType: 'RENEW', embossLine1: 'GIORGOS PAPADOPOYLOS', track1Name: 'PAPADOPOYLOS/GIORGOS', firstName: 'GIORGOS',
        lastName: 'PAPADOPOYLOS', addressLine1: '6 MAIN STREET', country: 'GRC', productCode: 'GOLD02', deliveryMethod: '4' }),
    };
    for (const [n, record] of Object.entries(expected)) assert.equal(lines[Number(n)], record, `detail record ${n}`);
  });

  it('gives the same bytes when rendered twice (no wall clock)', async () => {
    const first = await collect(renderPersoFile(layout, fileContext(), goldenContracts()));
    await new Promise((r) => setTimeout(r, 1100));
    const second = await collect(renderPersoFile(layout, fileContext(), goldenContracts()));
    assert.ok(first.equals(second));
  });

  it('fails the stream with the record number and field when a contract cannot be rendered', async () => {
    const cards = [contract(1), contract(2), contract(3, { pan: '4111111111111112' })];
    await assert.rejects(collect(renderPersoFile(layout, fileContext(), cards)), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.deepEqual(err.location, { record: 3, field: 'pan' });
      assert.match(err.message, /record 3, field pan: PAN 411111\*{6}1112 fails the Luhn check/);
      assert.doesNotMatch(err.message, /4111111111111112/);
      return true;
    });
  });

  it('refuses a file-level value that does not fit the header', async () => {
    await assert.rejects(collect(renderPersoFile(layout, fileContext({ sequence: 1_000_000 }), [])), /header field fileSequence: "1000000" does not fit 6/);
  });
});
