import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { DIALECTS, describeEachDatabase } from '../helpers/db.js';
import { header, rejection, reportName, shipment, xmlOf } from './fixtures.js';
import { startReceiveBench, within, type ReceiveBench } from './harness.js';
import { contractOf, seedBatch } from './seed.js';

/**
 * Hostile reports through the real receive job, the real sshd and a real database: each case puts
 * one mutated report (XML mutations before encryption, byte flips and truncation after) and one
 * valid report after it on the server, and runs the job once. Properties:
 *  - the run finishes (no crash, no hang), the mutated report ends applied or quarantined, the valid
 *    report after it is applied;
 *  - a quarantined report changed nothing in the database (its contracts, events, anomalies, stock);
 *  - no full PAN in the log lines or the database's text columns, whatever the report held.
 * Seeded: BX_FUZZ_SEED replays a failure (the seed is printed with it); BX_FUZZ_RUNS sets the count.
 */
const SEED = process.env.BX_FUZZ_SEED ? Number(process.env.BX_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const RUNS = Number(process.env.BX_FUZZ_RUNS ?? 20);

/** PANs a report may carry in free text (a test Visa, Mastercard and Amex); none may come out in clear. */
const PANS = ['4111111111111111', '5500000000000004', '378282246310005'];
const grouped = (pan: string, sep: string) => pan.replace(/(\d{4})(?=\d)/g, `$1${sep}`);

type Mutation = { name: string; xml?: (xml: string) => Buffer; cipher?: (data: Buffer) => Buffer };

const RESERVED_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf', 'a:b', 'xml', '_', 'Reason.x'];
const FIELDS = ['RecordSequence', 'CardContractId', 'PlasticId', 'Code', 'Reason', 'ShipDate', 'ExpectedShipDate', 'Courier', 'TrackingNumber', 'ReportDate', 'CreatedAt', 'Issuer', 'RecordsReceived', 'ProductCode', 'Opening', 'Closing'];
const ODD_VALUES = ['-1', '99999999999', '1e5', '0x10', ' 12 ', '2026-02-30', '9999-99-99', '2026-13-01T25:00:00Z', '', 'ØÆ€', '\u202e', '&#0;', '&#x85;', '&#xD800;', '&#1114112;',
  ...PANS, grouped(PANS[0]!, ' '), grouped(PANS[1]!, '-'), `card ${PANS[0]} refused`];

/** Sets the first element `name`'s text (or adds it to the first record when absent). */
function setField(xml: string, name: string, value: string): string {
  const re = new RegExp(`<${name}>[^<]*</${name}>|<${name}/>`);
  return re.test(xml) ? xml.replace(re, `<${name}>${value}</${name}>`) : xml.replace('</Rejection>', `<${name}>${value}</${name}></Rejection>`);
}

const at = (xml: string, fraction: number) => Math.floor(xml.length * fraction);
const text = (s: string) => Buffer.from(s);

const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  fc.integer({ min: 50, max: 12_000 }).map((depth): Mutation => ({
    name: `Reason nested ${depth} deep`,
    xml: (x) => text(x.replace(/<Reason>[^<]*<\/Reason>/, `<Reason>${'<a>'.repeat(depth)}x${'</a>'.repeat(depth)}</Reason>`)),
  })),
  fc.record({ name: fc.constantFrom(...RESERVED_NAMES), where: fc.constantFrom('</Rejection>', '</Shipment>', '</Header>', '</Item>', '<Reason>', '</Rejections>') }).map(({ name, where }): Mutation => ({
    name: `element <${name}> at ${where}`,
    xml: (x) => text(x.replace(where, where.startsWith('</') ? `<${name}>v</${name}>${where}` : `${where}<${name}>v</${name}>`)),
  })),
  fc.record({ size: fc.integer({ min: 100, max: 300_000 }), where: fc.constantFrom('<Reason', '<BureauReport', '<Header', '<Shipments') }).map(({ size, where }): Mutation => ({
    name: `attribute of ${size} characters on ${where}`,
    xml: (x) => text(x.replace(where, `${where} a="${'y'.repeat(size)}"`)),
  })),
  fc.record({ size: fc.integer({ min: 400, max: 200_000 }), field: fc.constantFrom('Reason', 'Courier', 'TrackingNumber', 'Code') }).map(({ size, field }): Mutation => ({
    name: `${field} of ${size} characters`,
    xml: (x) => text(setField(x, field, 'z'.repeat(size))),
  })),
  fc.constantFrom('&lol;', '&#0;', '&#x110000;', '&#xD800;', '&#9999999;', '&amp;lt;', '<!DOCTYPE r [<!ENTITY e "e">]>', '<!ENTITY e SYSTEM "file:///etc/passwd">', '&e;', ']]>', '<![CDATA[x]]>').map((entity): Mutation => ({
    name: `entity ${entity} in Reason`,
    xml: (x) => text(x.replace('<Reason>', `<Reason>${entity}`)),
  })),
  fc.record({ bytes: fc.constantFrom([0xff, 0xfe], [0xc3], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x00], [0xc0, 0xaf]), where: fc.double({ min: 0, max: 1, noNaN: true }) }).map(({ bytes, where }): Mutation => ({
    name: `invalid UTF-8 ${bytes.map((b) => b.toString(16)).join(' ')} at ${where.toFixed(2)}`,
    xml: (x) => { const b = text(x); const i = Math.floor(b.length * where); return Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]); },
  })),
  fc.constantFrom([0xef, 0xbb, 0xbf], [0xff, 0xfe], [0xfe, 0xff], [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]).map((bom): Mutation => ({
    name: `BOM ${bom.map((b) => b.toString(16)).join(' ')}`,
    xml: (x) => Buffer.concat([Buffer.from(bom), text(x)]),
  })),
  fc.constantFrom('Header', 'Rejections', 'Shipments', 'Stock', 'Rejection', 'Shipment', 'Item').map((section): Mutation => ({
    name: `duplicated ${section}`,
    xml: (x) => { const m = new RegExp(`<${section}>[\\s\\S]*?</${section}>`).exec(x); return text(m ? x.replace(m[0], m[0] + m[0]) : x); },
  })),
  fc.record({ field: fc.constantFrom(...FIELDS), value: fc.oneof(fc.constantFrom(...ODD_VALUES), fc.string({ maxLength: 30 })) }).map(({ field, value }): Mutation => ({
    name: `${field} = ${JSON.stringify(value)}`,
    xml: (x) => text(setField(x, field, value.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : c)))),
  })),
  fc.record({ field: fc.constantFrom('Reason', 'Courier', 'TrackingNumber'), pan: fc.constantFrom(...PANS), sep: fc.constantFrom('', ' ', '-') }).map(({ field, pan, sep }): Mutation => ({
    name: `PAN in ${field}`,
    xml: (x) => text(setField(x, field, `ref ${grouped(pan, sep)}`.slice(0, field === 'Courier' ? 50 : 100))),
  })),
  fc.double({ min: 0, max: 1, noNaN: true }).map((where): Mutation => ({ name: `XML cut at ${where.toFixed(3)}`, xml: (x) => text(x).subarray(0, at(x, where)) })),
  fc.array(fc.record({ where: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 4 }).map((flips): Mutation => ({
    name: `XML bits flipped at ${flips.map((f) => f.where.toFixed(3)).join(',')}`,
    xml: (x) => { const b = text(x); for (const f of flips) b[Math.min(b.length - 1, Math.floor(b.length * f.where))]! ^= 1 << f.bit; return b; },
  })),
  fc.array(fc.record({ where: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.integer({ min: 0, max: 7 }) }), { minLength: 1, maxLength: 3 }).map((flips): Mutation => ({
    name: `ciphertext bits flipped at ${flips.map((f) => f.where.toFixed(3)).join(',')}`,
    cipher: (b) => { const c = Buffer.from(b); for (const f of flips) c[Math.min(c.length - 1, Math.floor(c.length * f.where))]! ^= 1 << f.bit; return c; },
  })),
  fc.double({ min: 0, max: 1, noNaN: true }).map((where): Mutation => ({ name: `ciphertext cut at ${where.toFixed(3)}`, cipher: (b) => b.subarray(0, Math.floor(b.length * where)) })),
);

describeEachDatabase('inbound/fuzz: hostile reports through the receive job', (ctx) => {
  let bench: ReceiveBench;
  let db: Db;
  let workDir: string;
  let config: Config;
  let product = 0;

  before(async function () {
    this.timeout(60_000);
    bench = await startReceiveBench(this);
    db = ctx().db;
    workDir = mkdtempSync(join(tmpdir(), 'bx-fuzz-work-'));
    // a hang must fail the property, not the suite's patience: the run's own limit stops it
    config = bench.config(workDir, { maxClearBytes: 1 << 20, runTimeLimitSeconds: 60, reportTimeLimitSeconds: 30 });
  });
  after(async () => {
    await bench?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  async function snapshot(contractIds: number[], productCode: string) {
    return {
      contracts: await db('card_contracts').whereIn('id', contractIds).orderBy('id'),
      events: await db('contract_events').whereIn('contract_id', contractIds).orderBy('id'),
      stock: await db('plastic_stock').where({ product_code: productCode }),
    };
  }

  /** Every text a person could be shown from the database: the receive side's tables. */
  async function databaseText(): Promise<string> {
    const [contracts, events, reports, anomalies, stock] = await Promise.all([
      db('card_contracts').select('contract_number', 'plastic_id', 'reject_code', 'reject_reason', 'courier', 'tracking_number', 'expected_ship_date', 'ship_date'),
      db('contract_events').select('detail', 'from_status', 'to_status'),
      db('bureau_reports').select('remote_name', 'error', 'source_file', 'report_date'),
      db('report_anomalies').select('element', 'contract_number', 'plastic_id', 'reason'),
      db('plastic_stock').select('product_code'),
    ]);
    return JSON.stringify([contracts, events, reports, anomalies, stock]);
  }

  const noPanIn = (what: string, text: string) => {
    const flat = text.replace(/[ -]/g, '');
    for (const pan of PANS) assert.ok(!flat.includes(pan), `a full PAN (${pan.slice(0, 6)}…) in ${what}`);
  };

  it(`every mutated report ends applied or quarantined, the next one applies, nothing leaks (seed ${SEED}, ${RUNS} runs)`, async function () {
    this.timeout(240_000);
    const property = fc.asyncProperty(mutations, fc.constantFrom<'rsa' | 'pgp'>('rsa', 'rsa', 'pgp'), async (mutation, kind) => {
      const productCode = `FUZZ${++product}`;
      const a = await seedBatch(db, [1, 2].map((i) => 10_000 + product * 10 + i));
      const b = await seedBatch(db, [10_000 + product * 10 + 5]);
      const [n1, n2] = [...a.ids.keys()];
      const base = xmlOf({
        header: { ...header(a.fileName), recordsReceived: 2 },
        rejections: [{ ...rejection(n1!), recordSequence: 1 }],
        shipments: [shipment(n2!, { shipped: '2026-11-26', sequence: 2 })],
        stock: [{ productCode, opening: 10, received: 0, used: 2, spoiled: 0, closing: 8, minStock: 1 }],
      });
      const clear = mutation.xml ? mutation.xml(base) : Buffer.from(base);
      const encrypted = kind === 'rsa' ? encryptRsaReport(clear, bench.ours.publicPem) : bench.gpg.gpgEncrypt(clear, bench.pgpPublicFile);
      const hostileName = reportName(kind);
      const validName = reportName();
      bench.bureau.put(hostileName, mutation.cipher ? mutation.cipher(encrypted) : encrypted);
      const [nb] = [...b.ids.keys()];
      bench.bureau.put(validName, encryptRsaReport(Buffer.from(xmlOf({ header: header(b.fileName), shipments: [shipment(nb!, { shipped: '2026-11-26', sequence: 1 })] })), bench.ours.publicPem));
      const before = await snapshot([...a.ids.values()], productCode);
      const logStart = bench.logText().length;

      const result = await within(bench.run(db, config), 90_000, `the receive run (${mutation.name})`);

      const quarantined = result.quarantined.find((q) => q.remoteName === hostileName);
      const applied = result.applied.find((r) => r.remoteName === hostileName);
      assert.ok(Boolean(quarantined) !== Boolean(applied), `${mutation.name}: neither applied nor quarantined: ${JSON.stringify(result)}`);
      assert.ok(result.applied.some((r) => r.remoteName === validName), `${mutation.name}: the valid report after it was not applied: ${JSON.stringify(result)}`);
      assert.equal((await contractOf(db, nb!)).production_status, 'Shipped');
      assert.deepEqual(bench.bureau.files(), [], 'both reports left the outbound folder');
      if (quarantined) {
        assert.ok(bench.bureau.files('failed').includes(hostileName));
        assert.deepEqual(await snapshot([...a.ids.values()], productCode), before, `${mutation.name}: a quarantined report changed the database`);
        const row = await db('bureau_reports').where({ remote_name: hostileName }).first();
        if (row) {
          assert.equal(row.state, 'quarantined');
          assert.equal(Number((await db('report_anomalies').where({ report_id: row.id }).count({ n: '*' }))[0]!.n), 0);
        }
      }
      noPanIn(`the log of ${mutation.name}`, bench.logText().slice(logStart));
      noPanIn(`the database after ${mutation.name}`, await databaseText());
      noPanIn(`the result of ${mutation.name}`, JSON.stringify(result));
    });
    try {
      await fc.assert(property, { seed: SEED, numRuns: RUNS, endOnFailure: true });
    } catch (err) {
      (err as Error).message = `BX_FUZZ_SEED=${SEED} reproduces this failure\n${(err as Error).message}`;
      throw err;
    }
  });

  it('known cases: nesting 9,000 deep, __proto__, constructor, and PANs in free text', async function () {
    this.timeout(60_000);
    const batch = await seedBatch(db, [90_001, 90_002, 90_003, 90_004]);
    const [deep, proto, ctor, ok] = [90_001, 90_002, 90_003, 90_004];
    const report = (n: number, patch: (x: string) => string) =>
      encryptRsaReport(Buffer.from(patch(xmlOf({ header: header(batch.fileName), rejections: [{ ...rejection(n), reason: 'x' }] }))), bench.ours.publicPem);
    const names = [reportName(), reportName(), reportName(), reportName()];
    bench.bureau.put(names[0]!, report(deep, (x) => x.replace('<Reason>x</Reason>', `<Reason>${'<a>'.repeat(9000)}${'</a>'.repeat(9000)}</Reason>`)));
    bench.bureau.put(names[1]!, report(proto, (x) => x.replace('</Rejection>', '<__proto__>x</__proto__></Rejection>')));
    bench.bureau.put(names[2]!, report(ctor, (x) => x.replace('</Rejection>', '<constructor>x</constructor></Rejection>')));
    bench.bureau.put(names[3]!, encryptRsaReport(Buffer.from(xmlOf({
      header: header(batch.fileName),
      shipments: [{ ...shipment(ok, { shipped: '2026-11-26' }), courier: 'DHL', trackingNumber: grouped(PANS[0]!, ' ') }],
      rejections: [{ ...rejection(deep), reason: `card ${PANS[0]} refused` }],
    })), bench.ours.publicPem));
    const result = await bench.run(db, config);
    assert.deepEqual(result.quarantined.map((q) => q.remoteName), names.slice(0, 3));
    assert.match(result.quarantined[0]!.reason, /^invalid report: BureauReport\/Rejections\/Rejection\[1\]: refused XML: Maximum nested tags exceeded/);
    assert.match(result.quarantined[1]!.reason, /Rejection\[1\]: refused XML: .*"__proto__"/);
    assert.match(result.quarantined[2]!.reason, /Rejection\[1\]: refused XML: .*"constructor"/);
    assert.deepEqual(result.applied.map((r) => r.remoteName), [names[3]]);
    const shipped = await contractOf(db, ok);
    assert.equal(shipped.tracking_number, '411111******1111');
    const rejected = await contractOf(db, deep);
    assert.equal(rejected.reject_reason, 'card 411111******1111 refused');
    const events = await db('contract_events').whereIn('contract_id', [...batch.ids.values()]).select('detail');
    assert.deepEqual(events.map((e: any) => e.detail).sort(), ['rejected 012: card 411111******1111 refused', 'shipped 2026-11-26 via DHL 411111******1111']);
    noPanIn('the database', await databaseText());
    noPanIn('the log', bench.logText());
  });
});
