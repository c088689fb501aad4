import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Db } from '../../src/db/connection.js';
import { applyReportFile } from '../../src/inbound/apply-report.js';
import { readReportHeader } from '../../src/inbound/parse-report.js';
import { buildReportXml, type ReportInput } from '../../src/inbound/report-format.js';
import { silentLogger } from '../../src/log.js';
import { luhnValid } from '../../src/security/mask.js';
import { describeEachDatabase } from '../helpers/db.js';
import { contractId, header, plasticId, shipment } from './fixtures.js';
import { seedBatch } from './seed.js';

/**
 * A PAN that a hostile report places where it survives the masking of each field on its own: split
 * between two fields that the program writes side by side (a shipment's courier and tracking number
 * in the card's event), or in an identifier field (CardContractId, PlasticId) that names none of our
 * cards and so ends up in an anomaly. No full PAN may be stored, whatever the split.
 */
const read = { maxBytes: 10_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };
const FC_SEED = Number(process.env.BX_FC_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** A Luhn-valid card number of `lengths` digits, not starting with 0. */
function pan(min: number, max: number): fc.Arbitrary<string> {
  return fc.integer({ min, max }).chain((length) => fc.tuple(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: length - 2, maxLength: length - 2 })))
    .map(([first, rest]) => {
      const body = `${first}${rest.join('')}`;
      const check = [...'0123456789'].find((d) => luhnValid(body + d))!;
      return body + check;
    });
}

/** `digits` with a single space or dash between some of them, as people write card numbers. */
const grouped = (digits: string) => fc.array(fc.constantFrom('', '', ' ', '-'), { minLength: digits.length - 1, maxLength: digits.length - 1 })
  .map((seps) => [...digits].map((d, i) => d + (seps[i] ?? '')).join(''));

describeEachDatabase('inbound/report PANs across fields and in identifiers', (ctx) => {
  let dir: string;
  let db: Db;
  let next = 40_000;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-pans-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function apply(report: ReportInput) {
    const xml = buildReportXml(report);
    const sha256 = createHash('sha256').update(xml).digest('hex');
    const clearFile = join(dir, `${sha256}.xml`);
    writeFileSync(clearFile, xml);
    const h = await readReportHeader(clearFile, read);
    return applyReportFile(db, { clearFile, header: h, remoteName: `R_${sha256.slice(0, 8)}.xml.rsa`, sha256, clearSha256: sha256, kind: 'rsa', localPath: clearFile },
      { read, log: silentLogger, now: '2026-11-26T07:00:00.000Z' });
  }

  /** What the report left in the database that a person can be shown: its anomalies, the events and the card rows. */
  async function storedText(reportId: number, contractIds: number[]): Promise<string> {
    const [anomalies, events, contracts] = await Promise.all([
      db('report_anomalies').where({ report_id: reportId }).select('contract_number', 'plastic_id', 'reason'),
      db('contract_events').whereIn('contract_id', contractIds).select('detail'),
      db('card_contracts').whereIn('id', contractIds).select('reject_reason', 'courier', 'tracking_number'),
    ]);
    return JSON.stringify([anomalies, events, contracts]);
  }

  const noPan = (card: string, text: string, what: string) =>
    assert.ok(!text.replace(/[ -]/g, '').includes(card), `the full PAN ${card.slice(0, 6)}… is stored (${what}): ${text}`);

  it('a PAN split between the courier and the tracking number is not stored whole in the card\'s event', async function () {
    this.timeout(60_000);
    const split = pan(12, 19).chain((card) => fc.tuple(fc.constant(card), fc.integer({ min: 1, max: card.length - 1 })))
      .chain(([card, at]) => fc.tuple(fc.constant(card), grouped(card.slice(0, at)), grouped(card.slice(at))));
    await fc.assert(fc.asyncProperty(split, async ([card, head, tail]) => {
      const n = ++next;
      const batch = await seedBatch(db, [n]);
      const { reportId } = await apply({ header: header(batch.fileName), shipments: [{ ...shipment(n, { shipped: '2026-11-26', sequence: 1 }), courier: `DHL ${head}`, trackingNumber: tail }] });
      noPan(card, await storedText(reportId, [...batch.ids.values()]), `courier "DHL ${head}", tracking "${tail}"`);
    }), { seed: FC_SEED, numRuns: 30 });
  });

  it('a PAN as the CardContractId or PlasticId of a record that names none of our cards is masked in its anomaly', async function () {
    this.timeout(60_000);
    const placed = fc.oneof(
      pan(12, 15).map((card) => ({ card, where: 'CardContractId' as const })),
      pan(12, 12).map((card) => ({ card, where: 'PlasticId' as const })),
    );
    await fc.assert(fc.asyncProperty(placed, fc.boolean(), async ({ card, where }, knownFile) => {
      const n = ++next;
      const batch = await seedBatch(db, [n]);
      const record = where === 'CardContractId' ? { cardContractId: card, plasticId: plasticId(n) } : { cardContractId: contractId(n), plasticId: card };
      const { reportId, counts } = await apply({
        header: header(knownFile ? batch.fileName : 'BXISSUER_PERSO_20990101_000001.dat.pgp'),
        shipments: [{ ...shipment(n, { shipped: '2026-11-26', sequence: 1 }), ...record }],
      });
      assert.equal(counts.anomalies, 1);
      noPan(card, await storedText(reportId, [...batch.ids.values()]), `${where} ${card.slice(0, 6)}…`);
    }), { seed: FC_SEED, numRuns: 30 });
  });

  it('a PAN grouped by tabs or no-break spaces in an identifier field is masked in the error that quarantines the report', async function () {
    this.timeout(60_000);
    const separators = fc.constantFrom('\t', '\u00a0', '\u2007', '\u202f');
    const groupedBy = pan(12, 19).chain((card) => fc.tuple(fc.constant(card), fc.array(fc.tuple(fc.boolean(), separators), { minLength: card.length - 1, maxLength: card.length - 1 })))
      .map(([card, seps]) => ({ card, text: [...card].map((d, i) => d + (seps[i]?.[0] ? seps[i][1] : '')).join('') }))
      .filter(({ card, text }) => text !== card);
    await fc.assert(fc.asyncProperty(groupedBy, async ({ card, text }) => {
      const n = ++next;
      const batch = await seedBatch(db, [n]);
      const error = await apply({ header: header(batch.fileName), shipments: [{ ...shipment(n, { shipped: '2026-11-26', sequence: 1 }), cardContractId: text }] })
        .then(() => undefined, (e: Error) => e);
      assert.ok(error, 'the report was applied with a CardContractId that is not a number');
      assert.match(error.message, /CardContractId/);
      assert.ok(!error.message.replace(/[?\t\u00a0\u2007\u202f]/g, '').includes(card), `the full PAN ${card.slice(0, 6)}… is in the error: ${error.message}`);
    }), { seed: FC_SEED, numRuns: 30 });
  });

  it('keeps the identifiers of our own cards in their anomalies, so that the card\'s story finds them', async () => {
    const n = ++next;
    const batch = await seedBatch(db, [n], { status: 'Marked' });
    const { reportId } = await apply({ header: header(batch.fileName), shipments: [shipment(n, { shipped: '2026-11-26', sequence: 1 })] });
    const [anomaly] = await db('report_anomalies').where({ report_id: reportId });
    assert.deepEqual([anomaly.contract_number, anomaly.plastic_id], [String(1000 + n), String(5000 + n)]);
  });
});
