import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import { isUtf8 } from 'node:buffer';
import { parseReport, readReportHeader, readReportRecords, utf8Text } from '../../src/inbound/parse-report.js';
import { buildReportXml, reportXmlChunks, type ReportInput } from '../../src/inbound/report-format.js';

const options = { maxBytes: 10_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };
const header = {
  issuer: 'BXISSUER', bureau: 'BUREAU01', reportDate: '2026-11-26', createdAt: '2026-11-26T06:15:00Z',
  sourceFile: 'BXISSUER_PERSO_20261125_000001.dat.pgp', recordsReceived: 3,
};
const sample: ReportInput = {
  header,
  rejections: [{ recordSequence: 2, cardContractId: '000000000001002', plasticId: '000000001002', code: '012', reason: 'Unregistered <plastic> & "co"' }],
  shipments: [
    { recordSequence: 1, cardContractId: '000000000001001', plasticId: '000000001001', expectedShipDate: '2026-11-27', shipDate: null, courier: 'DHL', trackingNumber: 'JD014600003SE' },
    { recordSequence: 3, cardContractId: '0400', plasticId: '0400', expectedShipDate: null, shipDate: '2026-11-26', courier: '', trackingNumber: '' },
  ],
  stock: [{ productCode: 'CLASSIC01', opening: 5000, received: 0, used: 2, spoiled: 0, closing: 4998, minStock: 1000 }],
};

/** Parses `xml` and returns the InputError message (the test fails when it parses). */
async function errorOf(xml: string, opts = options): Promise<string> {
  try {
    await parseReport(xml, opts);
  } catch (err) {
    assert.ok(err instanceof InputError, `expected an InputError, got ${err}`);
    return err.message;
  }
  assert.fail('the report was accepted');
}

describe('inbound/parse-report', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-parse-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads what buildReportXml writes, identifiers kept as strings with leading zeros', async () => {
    const report = await parseReport(buildReportXml(sample), options);
    assert.deepEqual(report.header, header);
    assert.deepEqual(report.rejections, [{ ...[...sample.rejections!][0]!, path: 'BureauReport/Rejections/Rejection[1]' }]);
    assert.equal(report.shipments[1]!.cardContractId, '0400');
    assert.equal(report.shipments[1]!.shipDate, '2026-11-26');
    assert.equal(report.shipments[1]!.expectedShipDate, null);
    assert.equal(report.shipments[1]!.path, 'BureauReport/Shipments/Shipment[2]');
    assert.deepEqual(report.stock[0], { ...[...sample.stock!][0]!, path: 'BureauReport/Stock/Item[1]' });
  });

  it('decodes the predefined escapes and character references, nothing else', async () => {
    const xml = buildReportXml(sample).replace('<Reason>Unregistered &lt;plastic&gt; &amp; &quot;co&quot;</Reason>', '<Reason>A&#38;B &#x41; &amp;lt;</Reason>');
    assert.equal((await parseReport(xml, options)).rejections[0]!.reason, 'A&B A &lt;');
  });

  it('reads the version from the version attribute alone, not from one whose name ends in version', async () => {
    const xml = buildReportXml(sample).replace('<BureauReport version="1">', '<BureauReport data-version="1">');
    assert.notEqual(xml, buildReportXml(sample));
    await assert.rejects(parseReport(xml, options), /BureauReport\/@version: missing/);
    const both = buildReportXml(sample).replace('<BureauReport version="1">', '<BureauReport x:version="2" version="1">');
    assert.equal((await parseReport(both, options)).header.bureau, sample.header.bureau);
  });

  it('takes elements in any order, comments, empty lists and a stock-only report', async () => {
    const xml = `<?xml version="1.0"?><!-- hi --><BureauReport version="1"><Stock/><Shipments></Shipments>
      <Header><Bureau>BUREAU01</Bureau><Issuer>BXISSUER</Issuer><CreatedAt>2026-11-26T06:15:00+01:00</CreatedAt>
      <ReportDate>2026-11-26</ReportDate><SourceFile/></Header></BureauReport>`;
    const report = await parseReport(xml, options);
    assert.equal(report.header.sourceFile, '');
    assert.equal(report.header.recordsReceived, null);
    assert.equal(report.shipments.length + report.rejections.length + report.stock.length, 0);
  });

  it('refuses bytes that are not UTF-8 (a Latin-1 file without a declaration), also split across read chunks', async () => {
    const xml = buildReportXml(sample);
    const at = xml.indexOf('Unregistered');
    const latin1 = Buffer.concat([Buffer.from(xml.slice(0, at)), Buffer.from([0xe9]), Buffer.from(xml.slice(at))]);
    const file = join(dir, 'latin1.xml');
    writeFileSync(file, latin1);
    const readAll = async () => {
      for await (const group of readReportRecords(file, await readReportHeader(file, options), options)) void group;
    };
    await assert.rejects(readAll(), (err: Error) => err instanceof InputError && err.message === `BureauReport: not UTF-8 text at byte ${at}; a report must be UTF-8`);
    writeFileSync(file, Buffer.concat([Buffer.from(xml), Buffer.from([0xc3])]));
    await assert.rejects(readAll(), /not UTF-8 text: the file ends inside a character/);
    // two-byte letters only, one of them cut by the 1 MiB read chunks (one more ASCII letter moves the cut), still read
    const rejections = (shift: string) => Array.from({ length: 6000 }, (_, i) => ({
      recordSequence: i + 1, cardContractId: String(i + 1).padStart(15, '0'), plasticId: String(i + 1).padStart(12, '0'), code: '012', reason: `${i === 0 ? shift : ''}${'é'.repeat(100)}`,
    }));
    const big = (shift: string) => buildReportXml({ header: { ...header, recordsReceived: 6000 }, rejections: rejections(shift), shipments: [], stock: [] });
    const cut = (text: string) => Buffer.from(text)[(1 << 20) - 1] === 0xc3; // é is C3 A9: the chunk ends after its first byte
    const shift = Array.from({ length: 400 }, (_, n) => 'x'.repeat(n)).find((s) => cut(big(s)));
    assert.ok(shift !== undefined);
    const text = big(shift);
    writeFileSync(file, text);
    let count = 0;
    for await (const group of readReportRecords(file, await readReportHeader(file, options), options)) {
      assert.equal(group.list, 'Rejections');
      for (const record of group.records as Array<{ reason: string }>) assert.equal(record.reason.replace(/^x*/, ''), 'é'.repeat(100));
      count += group.records.length;
    }
    assert.equal(count, 6000);
  });

  it('reads any UTF-8 text cut anywhere into chunks as it is, and refuses any bytes that are not UTF-8 (property)', async () => {
    const read = async (bytes: Buffer, cuts: number[]) => {
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks = [0, ...at].map((start, i) => bytes.subarray(start, [...at, bytes.length][i]));
      let text = '';
      for await (const part of utf8Text((async function* () { yield* chunks; })())) text += part;
      return text;
    };
    const cuts = fc.array(fc.nat(), { maxLength: 8 });
    await fc.assert(fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 60 }), cuts, async (text, at) => {
      assert.equal(await read(Buffer.from(text), at), text);
    }), { numRuns: 300 });
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 40 }), cuts, async (raw, at) => {
      const bytes = Buffer.from(raw);
      if (isUtf8(bytes)) assert.equal(await read(bytes, at), bytes.toString('utf8'));
      else await assert.rejects(read(bytes, at), (err: Error) => err instanceof InputError && /not UTF-8 text/.test(err.message));
    }), { numRuns: 500 });
  });

  it('streams a large file in groups across read chunks, header found first even when it comes last', async () => {
    const shipments = Array.from({ length: 12_000 }, (_, i) => ({
      recordSequence: i + 1, cardContractId: String(i + 1).padStart(15, '0'), plasticId: String(i + 1).padStart(12, '0'),
      expectedShipDate: '2026-11-27', shipDate: null, courier: 'DHL', trackingNumber: `T${i}`,
    }));
    const parts = [...reportXmlChunks({ header, shipments })];
    const headerPart = parts.shift()!.replace('<BureauReport version="1">\n', '');
    const file = join(dir, 'big.xml');
    writeFileSync(file, '<?xml version="1.0" encoding="UTF-8"?>\n<BureauReport version="1">\n' + parts.join('').replace('</BureauReport>', headerPart.replace(/^<\?xml[^>]*>\n/, '') + '</BureauReport>'));
    const h = await readReportHeader(file, options);
    assert.equal(h.sourceFile, header.sourceFile);
    const sizes: number[] = [];
    let last = '';
    for await (const group of readReportRecords(file, h, { ...options, groupSize: 5000 })) {
      sizes.push(group.records.length);
      last = (group.records[group.records.length - 1] as { trackingNumber: string }).trackingNumber;
    }
    assert.deepEqual(sizes, [5000, 5000, 2000]);
    assert.equal(last, 'T11999');
  });

  it('refuses a billion-laughs DTD and external entities before expanding anything', async () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
      <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><BureauReport version="1"><Header><Issuer>&lol3;</Issuer></Header></BureauReport>`;
    assert.match(await errorOf(bomb), /DOCTYPE or DTD declaration is not allowed/);
    const xxe = `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><BureauReport version="1"/>`;
    assert.match(await errorOf(xxe), /DOCTYPE or DTD declaration is not allowed/);
    const undeclared = buildReportXml(sample).replace('<Courier>DHL</Courier>', '<Courier>&lol;</Courier>');
    assert.match(await errorOf(undeclared), /^BureauReport\/Shipments\/Shipment\[1\]: malformed XML/);
  });

  it('names the element of malformed XML', async () => {
    const xml = buildReportXml(sample);
    assert.match(await errorOf(xml.replace('<Courier>DHL</Courier>', '<Courier>DHL</Courrier>')), /^BureauReport\/Shipments\/Shipment\[1\]: malformed XML/);
    assert.match(await errorOf(xml.replace('</Shipments>', '</Shipment>')), /^BureauReport\/Shipments: closing tag <\/Shipment> does not match/);
    assert.match(await errorOf(xml.replace('</BureauReport>', '')), /^BureauReport: document ends before this element is closed/);
    assert.match(await errorOf(xml.slice(0, xml.indexOf('<TrackingNumber>JD01'))), /^BureauReport\/Shipments\/Shipment\[1\]: document ends inside this element/);
    assert.match(await errorOf('garbage \x00\x01'), /unexpected text between elements/);
    assert.match(await errorOf(xml.replace('</Stock>', '<Bogus/></Stock>')), /^BureauReport\/Stock\/Bogus: unexpected element, expected Item/);
    assert.match(await errorOf(xml.replace('<Stock>', '<Extra/><Stock>')), /^BureauReport\/Extra: unknown element/);
  });

  it('refuses an unknown or missing version', async () => {
    const xml = buildReportXml(sample);
    assert.match(await errorOf(xml.replace('version="1"', 'version="2"')), /^BureauReport\/@version: unknown report version "2", expected 1/);
    assert.match(await errorOf(xml.replace(' version="1"', '')), /^BureauReport\/@version: missing/);
  });

  it('names a missing element, a wrong date, a bad identifier and an unknown field', async () => {
    const xml = buildReportXml(sample);
    assert.match(await errorOf(xml.replace('<CardContractId>0400</CardContractId>', '')), /^BureauReport\/Shipments\/Shipment\[2\]\/CardContractId: missing$/);
    assert.match(await errorOf(xml.replace('2026-11-27', '2026-02-30')), /^BureauReport\/Shipments\/Shipment\[1\]\/ExpectedShipDate: "2026-02-30" is not a date YYYY-MM-DD/);
    assert.match(await errorOf(xml.replace('<PlasticId>0400</PlasticId>', '<PlasticId>04x0</PlasticId>')), /Shipment\[2\]\/PlasticId: "04x0" is not an identifier of at most 12 digits/);
    const panInId = await errorOf(xml.replace('<CardContractId>0400</CardContractId>', '<CardContractId>4111111111111111</CardContractId>'));
    assert.match(panInId, /Shipment\[2\]\/CardContractId: "411111\*+1111" is not an identifier of at most 15 digits/);
    assert.match(await errorOf(xml.replace('<Courier/>', '<Courier/><Colour>red</Colour>')), /Shipment\[2\]\/Colour: unknown element/);
    assert.match(await errorOf(xml.replace('<ReportDate>2026-11-26</ReportDate>', '')), /^BureauReport\/Header\/ReportDate: missing/);
    assert.match(await errorOf(xml.replace('<Issuer>BXISSUER</Issuer>', '<Issuer>OTHER</Issuer>')), /^BureauReport\/Header\/Issuer: is "OTHER", expected our issuer BXISSUER/);
    assert.match(await errorOf(xml.replace('<ShipDate>2026-11-26</ShipDate>', '<ShipDate/>').replace('<ExpectedShipDate/>', '')), /Shipment\[2\]\/ShipDate: neither ShipDate nor ExpectedShipDate/);
    assert.match(await errorOf(xml.replace('<Used>2</Used>', '<Used>-2</Used>')), /^BureauReport\/Stock\/Item\[1\]\/Used: "-2" is not a whole number/);
    assert.match(await errorOf(xml.replace(/<Header>[\s\S]*<\/Header>/, '')), /^BureauReport\/Header: missing/);
  });

  it('refuses records of contracts in a report without a source file', async () => {
    const xml = buildReportXml({ ...sample, header: { ...header, sourceFile: '', recordsReceived: null } });
    assert.match(await errorOf(xml), /^BureauReport\/Rejections\/Rejection\[1\]: a record of a contract in a report whose Header\/SourceFile is empty/);
  });

  it('refuses a file over the size limit before reading it', async () => {
    const file = join(dir, 'large.xml');
    writeFileSync(file, buildReportXml(sample));
    await assert.rejects(readReportHeader(file, { ...options, maxBytes: 1024 }), /clear report of \d+ bytes exceeds the limit of 1024 bytes/);
  });

  it('turns what fast-xml-parser refuses into an InputError naming the record: deep nesting, reserved names', async () => {
    const xml = buildReportXml(sample);
    const deep = `<Reason>${'<a>'.repeat(9000)}${'</a>'.repeat(9000)}</Reason>`;
    assert.match(await errorOf(xml.replace(/<Reason>[^<]*<\/Reason>/, deep)), /^BureauReport\/Rejections\/Rejection\[1\]: refused XML: Maximum nested tags exceeded/);
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      assert.match(await errorOf(xml.replace('</Shipment>', `<${name}>x</${name}></Shipment>`)), new RegExp(`^BureauReport/Shipments/Shipment\\[1\\]: refused XML: .*"${name}"`));
      assert.match(await errorOf(xml.replace('</Header>', `<${name}>x</${name}></Header>`)), new RegExp(`^BureauReport/Header: refused XML: .*"${name}"`));
    }
    // names that are Object.prototype members are unknown elements, never read from the prototype
    assert.match(await errorOf(xml.replace('</Shipment>', '<toString>x</toString></Shipment>')), /Shipment\[1\]\/(__)?toString: unknown element/);
  });

  it('masks PAN-like numbers in free text as it enters', async () => {
    const xml = buildReportXml({ ...sample, rejections: [{ ...[...sample.rejections!][0]!, reason: 'card 4111111111111111 refused' }],
      shipments: [{ ...[...sample.shipments!][0]!, courier: '5500-0000-0000-0004', trackingNumber: '4111 1111 1111 1111' }] });
    const report = await parseReport(xml, options);
    assert.equal(report.rejections[0]!.reason, 'card 411111******1111 refused');
    assert.equal(report.shipments[0]!.courier, '550000******0004');
    assert.equal(report.shipments[0]!.trackingNumber, '411111******1111');
  });

  it('passes an error of the system reading the file unchanged (a local fault, not the content)', async () => {
    await assert.rejects(readReportHeader(dir, options), (err: NodeJS.ErrnoException) => !(err instanceof InputError) && err.code === 'EISDIR');
    const missing = join(dir, 'missing.xml');
    await assert.rejects(readReportHeader(missing, options), (err: NodeJS.ErrnoException) => !(err instanceof InputError) && err.code === 'ENOENT');
  });
});

describe('inbound/parse-report: the declared encoding', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-parse-enc-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const declared = (encoding: string) => buildReportXml(sample).replace('encoding="UTF-8"', `encoding="${encoding}"`);

  it('refuses a report that declares an encoding other than UTF-8, instead of reading its text as UTF-8', async () => {
    // what a bureau's Latin-1 export looks like: é is the single byte E9, which UTF-8 would read as U+FFFD
    const file = join(dir, 'latin1.xml');
    writeFileSync(file, Buffer.from(declared('ISO-8859-1').replace('Unregistered', 'Unregistéred'), 'latin1'));
    await assert.rejects(readReportHeader(file, options), (err: Error) =>
      err instanceof InputError && /^BureauReport: the XML declaration names the encoding "ISO-8859-1"; a report must be UTF-8/.test(err.message));
    await fc.assert(fc.asyncProperty(fc.stringMatching(/^[A-Za-z][A-Za-z0-9._-]{0,20}$/).filter((e) => !/^utf-?8$/i.test(e)), async (encoding) => {
      assert.match(await errorOf(declared(encoding)), /^BureauReport: the XML declaration names the encoding/);
    }), { numRuns: 50 });
  });

  it('reads a report that declares UTF-8 in any spelling, or no encoding', async () => {
    for (const encoding of ['UTF-8', 'utf-8', 'Utf-8', 'UTF8']) assert.equal((await parseReport(declared(encoding), options)).rejections.length, 1);
    assert.equal((await parseReport(buildReportXml(sample).replace(' encoding="UTF-8"', ''), options)).rejections.length, 1);
    assert.equal((await parseReport(buildReportXml(sample).replace('encoding="UTF-8"', "encoding = 'utf-8'"), options)).rejections.length, 1);
  });
});
