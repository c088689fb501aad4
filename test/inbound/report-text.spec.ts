import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Db } from '../../src/db/connection.js';
import { InputError } from '../../src/errors.js';
import { parseReport } from '../../src/inbound/parse-report.js';
import { buildReportXml, type ReportInput } from '../../src/inbound/report-format.js';
import { luhnValid } from '../../src/security/mask.js';
import { describeEachDatabase } from '../helpers/db.js';
import { header, shipment } from './fixtures.js';
import { applyBuiltReport, contractOf, seedBatch } from './seed.js';

/**
 * Report text is stored and shown again (contracts show, the status page, logs): no C1 or
 * bidirectional control may get in, and a PAN written in other decimal digits is masked as one in
 * ASCII digits is.
 */
const read = { maxBytes: 50_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };
const rejectionOf = (reason: string, field: 'reason' | 'code' = 'reason') => ({
  recordSequence: 1, cardContractId: '1001', plasticId: '5001', code: field === 'code' ? reason : '012', reason: field === 'reason' ? reason : 'x',
});

/** The scripts of decimal digits a bureau's system could write a number in: each is a run 0–9 from its zero. */
const DIGIT_ZEROS = [0xff10, 0x0660, 0x06f0, 0x0966, 0x09e6, 0x0e50, 0x1d7ce, 0x1d7ec];
const inScript = (digits: string, zero: number) => [...digits].map((d) => String.fromCodePoint(zero + Number(d))).join('');

describe('inbound/report text: parsed', () => {
  const SHOWN_AS_QUESTION_MARK = [0x80, 0x85, 0x92, 0x9b, 0x9f, 0x2028, 0x2029, 0x061c, 0x200e, 0x200f, 0x202a, 0x202e, 0x2066, 0x2069];
  const reportWith = (field: string, value: string) => {
    const base = field === 'Reason' || field === 'Code'
      ? buildReportXml({ header: header('F.dat'), rejections: [rejectionOf('PLACEHOLDER', field === 'Code' ? 'code' : 'reason')] })
      : buildReportXml({ header: header('F.dat'), shipments: [{ ...shipment(1, { shipped: '2026-11-26' }), [field === 'Courier' ? 'courier' : 'trackingNumber']: 'PLACEHOLDER' }] });
    return base.replace('PLACEHOLDER', value);
  };
  const fieldOf = (report: Awaited<ReturnType<typeof parseReport>>, field: string): string => (field === 'Reason' ? report.rejections[0]!.reason
    : field === 'Code' ? report.rejections[0]!.code : field === 'Courier' ? report.shipments[0]!.courier : report.shipments[0]!.trackingNumber);

  it('stores C1 controls, line separators and bidirectional controls in any free-text field as "?", written raw or as a character reference; the record applies', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom(...SHOWN_AS_QUESTION_MARK), fc.constantFrom('Reason', 'Code', 'Courier', 'TrackingNumber'), fc.boolean(),
      async (code, field, asReference) => {
        const bad = asReference ? `&#x${code.toString(16)};` : String.fromCodePoint(code);
        const report = await parseReport(reportWith(field, `A${bad}2J`), read);
        assert.equal(fieldOf(report, field), 'A?2J');
      },
    ), { numRuns: 120 });
  });

  it('still refuses C0 controls (not XML text), naming the field', async () => {
    await assert.rejects(parseReport(reportWith('Reason', 'a&#x1b;[2Jb'), read), (err: Error) => err instanceof InputError && /Reason: contains control characters/.test(err.message));
  });

  it('masks a PAN split by invisible controls (left-to-right marks, overrides), which reads whole', async () => {
    const pan = '5500000000000004';
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ at: fc.integer({ min: 1, max: pan.length - 1 }), code: fc.constantFrom(...SHOWN_AS_QUESTION_MARK) }), { minLength: 1, maxLength: 6 }),
      fc.constantFrom('Reason', 'TrackingNumber'),
      async (inserts, field) => {
        const digits = [...pan];
        for (const { at, code } of inserts) digits[at] = String.fromCodePoint(code) + digits[at]!;
        const text = fieldOf(await parseReport(reportWith(field, `ref ${digits.join('')}`), read), field);
        assert.ok(!text.replace(/\D/g, '').includes(pan), JSON.stringify(text));
        assert.match(text, /550000\*+0004/);
      },
    ), { numRuns: 100 });
  });

  it('masks a PAN written in fullwidth, Arabic-Indic, Devanagari, Thai or mathematical digits in free text, as it masks one in ASCII digits', async () => {
    const pan = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 15, maxLength: 18 }).map((d) => {
      const body = d.join('');
      const check = [...'0123456789'].find((c) => luhnValid(body + c))!;
      return body + check;
    });
    await fc.assert(fc.asyncProperty(pan, fc.constantFrom(...DIGIT_ZEROS), fc.constantFrom('reason', 'courier', 'trackingNumber'), async (number, zero, field) => {
      const written = inScript(number, zero);
      const value = field === 'courier' ? written : `card ${written} refused`;
      const report: ReportInput = field === 'reason'
        ? { header: header('F.dat'), rejections: [rejectionOf(value)] }
        : { header: header('F.dat'), shipments: [{ ...shipment(1, { shipped: '2026-11-26' }), [field]: value }] };
      const parsed = await parseReport(buildReportXml(report), read);
      const text = field === 'reason' ? parsed.rejections[0]!.reason : (parsed.shipments[0] as unknown as Record<string, string>)[field]!;
      assert.ok(!text.includes(written), `the PAN in its own digits came through: ${JSON.stringify(text)}`);
      assert.ok(!text.includes(number), `the PAN came through: ${JSON.stringify(text)}`);
      assert.ok(text.includes(`${number.slice(0, 6)}${'*'.repeat(number.length - 10)}${number.slice(-4)}`), JSON.stringify(text));
    }), { numRuns: 150 });
  });

  it('keeps short numbers in other digits as they are (a reason in Arabic with a code)', async () => {
    const reason = `رفض ${inScript('042', 0x0660)} ４２`;
    const parsed = await parseReport(buildReportXml({ header: header('F.dat'), rejections: [rejectionOf(reason)] }), read);
    assert.equal(parsed.rejections[0]!.reason, reason);
  });
});

describeEachDatabase('inbound/report text: stored', (ctx) => {
  let dir: string;
  let db: Db;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-report-text-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const apply = (report: ReportInput, now?: string) => applyBuiltReport(db, dir, report, read, now);

  it('stores neither C1 nor bidirectional controls nor a PAN in other digits: "?" and masked before any row is written', async () => {
    const batch = await seedBatch(db, [61, 62]);
    await apply({ header: header(batch.fileName), rejections: [{ ...rejectionOf(`x\u009b2J\u202eevil`), cardContractId: '1061', plasticId: '5061' }] });
    assert.equal((await contractOf(db, 61)).reject_reason, 'x?2J?evil');
    const pan = '4111111111111111';
    await apply({ header: header(batch.fileName), rejections: [{ ...rejectionOf(`card ${inScript(pan, 0xff10)}`), recordSequence: 2, cardContractId: '1062', plasticId: '5062' }] });
    const c = await contractOf(db, 62);
    assert.equal(c.reject_reason, 'card 411111******1111');
    const events = JSON.stringify(await db('contract_events').where({ contract_id: batch.ids.get(62) }));
    assert.ok(!events.includes(inScript(pan, 0xff10)) && !events.includes(pan));
  });

  it('does not store a PAN split between the courier and the tracking number in fullwidth digits in the card\'s event', async () => {
    const batch = await seedBatch(db, [63]);
    const pan = '5500000000000004';
    const [left, right] = [inScript(pan.slice(0, 8), 0xff10), inScript(pan.slice(8), 0xff10)];
    await apply({ header: header(batch.fileName), shipments: [{ ...shipment(63, { shipped: '2026-11-26', sequence: 1 }), courier: `DHL ${left}`, trackingNumber: right }] });
    const [event] = await db('contract_events').where({ contract_id: batch.ids.get(63), source_kind: 'report' });
    assert.match(event.detail, /550000\*{6}0004/);
  });
});

describe('inbound/report text: errors', () => {
  it('masks a PAN in other decimal digits that an error quotes from the file (version, tag, encoding, element name), as the quarantine reason stores it', async () => {
    const pan = '4111111111111111';
    const base = buildReportXml({ header: header('F.dat') });
    await fc.assert(fc.asyncProperty(fc.constantFrom(...DIGIT_ZEROS.filter((z) => z < 0x10000)), fc.constantFrom(
      (x: string, p: string) => x.replace('version="1"', `version="${p}"`),
      (x: string, p: string) => x.replace('<Rejections>', `<Rejections><${p}>`),
      (x: string, p: string) => x.replace('encoding="UTF-8"', `encoding="${p}"`),
      (x: string, p: string) => x.replace('</Header>', `<X${p}/></Header>`),
    ), async (zero, mutate) => {
      const written = inScript(pan, zero);
      await assert.rejects(parseReport(mutate(base, written), read), (err: Error) => {
        assert.ok(err instanceof InputError, err.message);
        assert.ok(!err.message.includes(written) && !err.message.includes(pan), err.message);
        assert.ok(!(err.stack ?? '').includes(written), 'the stack repeats the message');
        return true;
      });
    }), { numRuns: 40 });
  });
});

describe('inbound/report text: CDATA', () => {
  it('names a CDATA section between the records as what it is (it was called a DOCTYPE), at its path', async () => {
    for (const where of ['<Rejections>', '<Shipments>', '</Header>']) {
      const xml = buildReportXml({ header: header('F.dat') }).replace(where, `${where}<![CDATA[x]]>`);
      await assert.rejects(parseReport(xml, read), (err: Error) =>
        err instanceof InputError && /^BureauReport(\/Rejections|\/Shipments)?: a CDATA section between elements/.test(err.message) && !/DOCTYPE/.test(err.message));
    }
  });

  it('reads a field written as CDATA, or in pieces of text and CDATA, as its text', async () => {
    const xml = buildReportXml({ header: header('F.dat'), rejections: [rejectionOf('R')] })
      .replace('<Reason>R</Reason>', '<Reason><![CDATA[a <b> ]]>c</Reason>').replace('<Code>012</Code>', '<Code>0<![CDATA[1]]>2</Code>');
    const parsed = await parseReport(xml, read);
    assert.deepEqual([parsed.rejections[0]!.code, parsed.rejections[0]!.reason], ['012', 'a <b> c']);
  });
});
