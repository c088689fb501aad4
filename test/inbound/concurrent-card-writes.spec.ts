import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../src/db/connection.js';
import { anomaliesOf } from '../../src/db/reports.js';
import { DIALECTS, describeEachDatabase } from '../helpers/db.js';
import { header, rejection, shipment } from './fixtures.js';
import { settledOrWaiting } from '../helpers/db.js';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { applyReportFile } from '../../src/inbound/apply-report.js';
import { readReportHeader } from '../../src/inbound/parse-report.js';
import { buildReportXml } from '../../src/inbound/report-format.js';
import { silentLogger } from '../../src/log.js';
import { applyBuiltReport, contractOf, seedBatch } from './seed.js';

const read = { maxBytes: 50_000_000, issuer: 'BXISSUER', bureau: 'BUREAU01' };

/**
 * The card system writes card_contracts beside us (docs/design.md): a card it changes in its own
 * transaction while a report naming that card is applied must keep the card system's change, and the
 * report's record must be decided on the card as it is then (an anomaly), never written over it.
 * SQLite has one writer (BEGIN IMMEDIATE): the two never overlap there.
 */
describeEachDatabase('inbound: a card changed by the card system while a report naming it is applied', (ctx) => {
  let dir: string;
  let db: Db;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-concurrent-')); db = ctx().db; });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [what, list] of [['shipment', 'shipments'], ['rejection', 'rejections']] as const) {
    it(`a card re-ordered (Marked again) by the card system while a ${what} of it is applied stays Marked: no lost order`, async function () {
      this.timeout(30_000);
      const cards = what === 'shipment' ? [11, 12] : [21, 22];
      const batch = await seedBatch(db, cards);
      const [first, second] = cards as [number, number];
      const sequence = (n: number) => cards.indexOf(n) + 1;
      // the card system's transaction: the card re-ordered, not yet committed
      const cardSystem = await db.transaction();
      await cardSystem('card_contracts').where({ id: batch.ids.get(first) }).update({ production_status: 'Marked', batch_id: null, updated_at: '2026-11-26T06:59:00.000Z' });
      const applying = applyBuiltReport(db, dir, {
        header: header(batch.fileName),
        rejections: list === 'rejections' ? cards.map((n) => ({ ...rejection(n), recordSequence: sequence(n) })) : [],
        shipments: list === 'shipments' ? cards.map((n) => shipment(n, { shipped: '2026-11-26', sequence: sequence(n) })) : [],
        stock: [],
      }, read);
      await settledOrWaiting(ctx().database, applying);
      await cardSystem.commit();
      const { reportId, counts } = await applying;
      const card = await contractOf(db, first);
      assert.deepEqual([card.production_status, card.batch_id], ['Marked', null], 'the card system\'s re-order is kept');
      assert.equal((await contractOf(db, second)).production_status, what === 'shipment' ? 'Shipped' : 'Rejected');
      assert.equal(counts.anomalies, 1);
      const [anomaly] = await anomaliesOf(db, reportId);
      assert.match(anomaly!.reason, /Marked|sent again/);
      const events = await db('contract_events').where({ contract_id: batch.ids.get(first), source_kind: 'report' });
      assert.deepEqual(events, [], 'no report event on the re-ordered card');
    });
  }

  it('a card of the report\'s file Marked again, which the report will not change, is not held locked while the report applies (a claim on MariaDB locks it)', async function () {
    this.timeout(30_000);
    const batch = await seedBatch(db, [61, 62, 63]);
    await db('card_contracts').where({ id: batch.ids.get(62) }).update({ production_status: 'Marked', batch_id: null });
    const xml = buildReportXml({ header: header(batch.fileName), rejections: [], shipments: [shipment(61, { shipped: '2026-11-26', sequence: 1 }), shipment(63, { shipped: '2026-11-26', sequence: 3 })], stock: [] });
    const sha256 = createHash('sha256').update(xml).digest('hex');
    const clearFile = join(dir, `${sha256}.xml`);
    writeFileSync(clearFile, xml);
    let heldBack: unknown = 'not tried';
    await applyReportFile(db, { clearFile, header: await readReportHeader(clearFile, read), remoteName: 'R.xml.rsa', sha256, clearSha256: sha256, kind: 'rsa', localPath: clearFile }, {
      read, log: silentLogger, now: '2026-11-26T07:00:00.000Z',
      // inside the report's transaction: another writer takes the Marked card at once, or fails
      afterGroup: async () => {
        heldBack = await db.transaction(async (trx) => trx('card_contracts').where({ id: batch.ids.get(62) }).forUpdate().noWait().first('id'))
          .then(() => null, (err: Error) => err.message);
      },
    });
    assert.equal(heldBack, null, 'the Marked card was free to lock');
    assert.equal((await contractOf(db, 61)).production_status, 'Shipped');
  });
}, DIALECTS.filter((d) => d !== 'sqlite'));
