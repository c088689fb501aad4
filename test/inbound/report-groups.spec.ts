import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readReportHeader, readReportRecords } from '../../src/inbound/parse-report.js';
import { buildReportXml } from '../../src/inbound/report-format.js';
import { header, shipment } from './fixtures.js';

/**
 * How much of a report one fast-xml-parser call takes: a record may be up to 64 KiB, so a group of
 * 1,000 records is bounded by characters too (2 MiB), or a report well under reports.maxClearBytes
 * made of small elements takes gigabytes before its first record is refused.
 */
const read = { maxBytes: 200_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };

describe('inbound/report groups: memory of one group', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-audit-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses records of 60,000 characters a few at a time, not 1,000 at once', async () => {
    // valid records padded with whitespace: each passes; before, one fast-xml-parser call took all
    // 1,000 (60 MB of XML; of small elements instead, 2.7 GB of objects before the first was refused)
    const xml = buildReportXml({ header: header('F.dat'), shipments: Array.from({ length: 300 }, (_, i) => shipment(i + 1, { shipped: '2026-11-26' })) })
      .replaceAll('<RecordSequence>', `${' '.repeat(60_000)}<RecordSequence>`);
    const file = join(dir, 'padded.xml');
    writeFileSync(file, xml);
    const h = await readReportHeader(file, read);
    const sizes: number[] = [];
    for await (const group of readReportRecords(file, h, read)) sizes.push(group.records.length);
    assert.equal(sizes.reduce((a, b) => a + b, 0), 300);
    assert.ok(Math.max(...sizes) <= Math.floor((2 << 20) / 60_000), `groups of ${sizes.join(', ')} records`);
  });

  it('refuses 1,000 records of 5,900 nested elements each at the first record, without parsing them all first', async function () {
    this.timeout(60_000);
    const head = buildReportXml({ header: header('F.dat') }).split('<Rejections>')[0]!;
    const record = `<Rejection>${'<a><b/></a>'.repeat(5_900)}</Rejection>\n`;
    const file = join(dir, 'nested.xml');
    writeFileSync(file, `${head}<Rejections>\n${record.repeat(1_000)}</Rejections>\n</BureauReport>\n`);
    const h = await readReportHeader(file, read);
    const started = Date.now();
    await assert.rejects((async () => {
      for await (const group of readReportRecords(file, h, read)) assert.fail(`a group of ${group.records.length} records was read`);
    })(), /Rejection\[1\]\/a: unknown element|Rejection\[1\]\/RecordSequence: missing/);
    // before: 100 s and 2.7 GB for the one group of 1,000
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
  });
});

