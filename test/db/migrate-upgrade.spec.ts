import { strict as assert } from 'node:assert';
import type { Knex } from 'knex';
import { insertReturningId } from '../../src/db/connection.js';
import { contractStory } from '../../src/db/contract-story.js';
import { countMarked, markedContracts } from '../../src/db/marked.js';
import { migrateDownLast, migrateLatest, pendingMigrations } from '../../src/db/migrate.js';
import { findReportByHash } from '../../src/db/reports.js';
import { listRuns } from '../../src/db/runs.js';
import { stockHistory, stockLevels } from '../../src/db/stock.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';
import { legacyStoredPan } from '../helpers/legacy-pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { insertCards } from '../outbound/fixtures.js';

const LATEST = 11;
/** Every table that holds data, children first (so that a delete in this order breaks no reference). */
const DATA_TABLES = ['report_anomalies', 'contract_events', 'batch_items', 'card_contracts', 'perso_batches', 'clients',
  'plastic_stock_history', 'plastic_stock', 'bureau_reports', 'job_runs', 'runner_presence', 'leases', 'marked_contracts', 'marked_contracts_checked'];

const AT = '2026-11-20T10:00:00.000Z';
const FILE = 'BXISSUER_PERSO_20261120_000001.dat.pgp';
const REPORT = { remote: 'BXBUREAU_REPORT_20261121_000001.xml.pgp', sha256: 'a'.repeat(64), clear: 'b'.repeat(64) };

// An installation running an older release holds cards, files, reports, stock and runs. Upgraded to
// this release, from whichever migration level it stood at, every row is still there and reads back
// through this release's code as it was written: PANs decrypt, each card's history tells the same
// story, the Marked cards are found by the claim's way to them (PostgreSQL: migration 009's table).
describeEachDatabase('upgrade from each older migration level with data in it', (ctx) => {
  const key = newPanKey();
  const cipher = new PanCipher(key);

  for (let level = 1; level < LATEST; level++) {
    it(`from level ${String(level).padStart(3, '0')}`, async function () {
      this.timeout(120_000);
      const { db } = ctx();
      await migrateLatest(db);
      for (const table of DATA_TABLES) if (await db.schema.hasTable(table)) await db(table).delete();
      for (let i = level; i < LATEST; i++) await migrateDownLast(db);
      assert.equal((await pendingMigrations(db)).length, LATEST - level);

      await writeAsAnOlderRelease(db, cipher, level, key);
      assert.equal((await migrateLatest(db)).length, LATEST - level);
      assert.deepEqual(await pendingMigrations(db), []);
      await readBack(db, cipher, level);
    });
  }
});

/** The rows an older release wrote at `level`: only the columns (and tables) it had. */
async function writeAsAnOlderRelease(db: Knex, cipher: PanCipher, level: number, key: Buffer): Promise<void> {
  const insert = async (table: string, row: Record<string, unknown>) => insertReturningId(db, table, await existingColumns(db, table, row));
  // four cards imported (Marked), as the import of every release wrote them
  await insertCards(db, cipher, 1, 4);
  const ids = new Map<number, number>();
  for (const n of [1, 2, 3, 4]) ids.set(n, Number((await db('card_contracts').where({ contract_number: String(1000 + n) }).first('id')).id));
  // card 1's PAN as releases before the card-bound format stored it
  const legacy = legacyStoredPan(key, makeCard(1).pan);
  await db('card_contracts').where({ id: ids.get(1) }).update({ pan_enc: legacy.panEnc, pan_last4: legacy.panLast4, pan_hmac: legacy.panHmac });
  // cards 2, 3, 4 went in a file, sent
  const batch = await insert('perso_batches', {
    business_date: '2026-11-20', sequence: 1, file_name: FILE, state: 'sent', record_count: 3, hash_total: '123', clear_sha256: 'c'.repeat(64),
    clear_size: 1200, enc_sha256: 'd'.repeat(64), enc_size: 900, outbox_path: `/var/outbox/${FILE}`, attempts: 1, created_at: AT, updated_at: AT, sent_at: AT,
    events_before: level >= 7 ? await maxEventId(db) : undefined,
  });
  for (const [record, n] of [[1, 2], [2, 3], [3, 4]]) {
    await db('batch_items').insert({ batch_id: batch, record_number: record, contract_id: ids.get(n) });
    await db('card_contracts').where({ id: ids.get(n) }).update({ production_status: 'InProduction', batch_id: batch, updated_at: AT });
    // before 007 the confirm wrote one event per card; since, the sent batch is the event (events_before)
    if (level < 7) await insert('contract_events', { contract_id: ids.get(n), from_status: 'Marked', to_status: 'InProduction', source_kind: 'batch', source_id: batch, created_at: AT });
  }
  // the bureau's report: card 3 shipped, card 4 rejected, card 1 named in an anomaly, a stock level
  const report = await insert('bureau_reports', {
    remote_name: REPORT.remote, sha256: REPORT.sha256, clear_sha256: REPORT.clear, kind: 'pgp', state: 'applied', remote_state: 'processed',
    source_file: FILE, report_date: '2026-11-21', rejections: 1, shipments: 1, stock_items: 1, anomalies: 1, local_path: '/var/archive/r1', created_at: AT, updated_at: AT,
  });
  await db('card_contracts').where({ id: ids.get(3) }).update({ production_status: 'Shipped', ship_date: '2026-11-21', courier: 'DHL', tracking_number: 'JJD000390007788', updated_at: AT });
  await insert('contract_events', { contract_id: ids.get(3), from_status: 'InProduction', to_status: 'Shipped', source_kind: 'report', source_id: report, detail: 'DHL JJD000390007788', created_at: AT });
  await db('card_contracts').where({ id: ids.get(4) }).update({ production_status: 'Rejected', reject_code: 'E12', reject_reason: 'address incomplete', updated_at: AT });
  await insert('contract_events', { contract_id: ids.get(4), from_status: 'InProduction', to_status: 'Rejected', source_kind: 'report', source_id: report, detail: 'E12', created_at: AT });
  await insert('report_anomalies', { report_id: report, element: 'Shipment[2]', contract_number: '1001', plastic_id: '5001', reason: 'card not in file' });
  await db('plastic_stock').insert(await existingColumns(db, 'plastic_stock', {
    product_code: 'CLASSIC01', opening: 700, received: 0, used: 190, spoiled: 10, closing: 500, min_stock: 100, low: false, report_id: report, report_date: '2026-11-21', updated_at: AT,
  }));
  if (level >= 4) {
    await insert('plastic_stock_history', { product_code: 'CLASSIC01', report_id: report, report_date: '2026-11-21', closing: 500, min_stock: 100, recorded_at: AT });
    await insert('job_runs', {
      job: 'receive', trigger: 'schedule', reason: 'every 15 min', runner: 'host:1:ab', started_at: AT, finished_at: AT, outcome: 'ok', duration_ms: 1500,
      reports_applied: 1, file_names: JSON.stringify([REPORT.remote]),
    });
  }
  await db('leases').insert({ name: 'daemon', owner: 'host:1:ab', expires_at: 0, acquired_at: AT });
}

async function readBack(db: Knex, cipher: PanCipher, level: number): Promise<void> {
  const expected: Record<number, string> = { 1: 'Marked', 2: 'InProduction', 3: 'Shipped', 4: 'Rejected' };
  for (const n of [1, 2, 3, 4]) {
    const [card, ...more] = await contractStory(db, String(1000 + n));
    assert.equal(more.length, 0);
    assert.ok(card, `card ${n}`);
    assert.equal(cipher.decrypt(card.panEnc, { contractNumber: card.contractNumber, plasticId: card.plasticId, panLast4: card.panLast4 }), makeCard(n).pan);
    assert.match(card.panEnc, n === 1 ? /^v1:/ : /^v2:/);
    assert.equal(card.status, expected[n]);
    assert.equal(card.holder, `Jane Doe${n}`);
    const story = card.events.map((e) => `${e.from}>${e.to} ${e.source}:${e.sourceName ?? ''}`);
    const inFile = n > 1 ? [`Marked>InProduction batch:${FILE}`] : [];
    const after = n === 3 ? [`InProduction>Shipped report:${REPORT.remote}`] : n === 4 ? [`InProduction>Rejected report:${REPORT.remote}`] : [];
    assert.deepEqual(story, ['null>Marked import:', ...inFile, ...after], `card ${n}`);
    assert.deepEqual(card.batches.map((b) => `${b.fileName} ${b.state}`), n > 1 ? [`${FILE} sent`] : []);
    assert.deepEqual(card.reports.map((r) => `${r.remoteName} ${r.anomaly ?? ''}`), n === 1 ? [`${REPORT.remote} card not in file`] : n > 2 ? [`${REPORT.remote} `] : []);
  }
  const [shipped] = await contractStory(db, '1003');
  assert.equal(shipped!.trackingNumber, 'JJD000390007788');
  const [rejected] = await contractStory(db, '1004');
  assert.equal(rejected!.reason, 'address incomplete');

  assert.equal(await countMarked(db), 1, 'the Marked card is found the claim\'s way');
  assert.deepEqual((await markedContracts(db).select('c.contract_number')).map((r: { contract_number: string }) => r.contract_number), ['1001']);
  const report = await findReportByHash(db, REPORT.sha256);
  assert.equal(report?.state, 'applied');
  assert.equal(report?.bureau_code ?? null, null, 'the first bureau\'s');
  assert.equal(report?.clear_sha256 ?? null, level >= 10 ? REPORT.clear : null);
  assert.deepEqual((await stockLevels(db)).map((s) => [s.bureau_code ?? null, s.product_code, Number(s.closing), s.low]), [[null, 'CLASSIC01', 500, false]]);
  // before 004, the level then current is its history's first point
  assert.deepEqual((await stockHistory(db)).map((p) => [p.bureauCode, p.productCode, p.closing, p.recordedAt]), [[null, 'CLASSIC01', 500, AT]]);
  assert.deepEqual((await listRuns(db)).map((r) => [r.job, r.outcome, r.reportsApplied, r.files]), level >= 4 ? [['receive', 'ok', 1, [REPORT.remote]]] : []);
  assert.equal((await db('leases').where({ name: 'daemon' }).first())?.owner, 'host:1:ab');

  // and this release writes on it: a card imported now is Marked and found
  await insertCards(db, cipher, 9, 1);
  assert.equal(await countMarked(db), 2);
}

/** `row` without the columns `table` does not have at this level. */
async function existingColumns(db: Knex, table: string, row: Record<string, unknown>): Promise<Record<string, unknown>> {
  const columns = await db(table).columnInfo();
  return Object.fromEntries(Object.entries(row).filter(([column, value]) => column in columns && value !== undefined));
}

async function maxEventId(db: Knex): Promise<number> {
  const row = await db('contract_events').max({ id: 'id' }).first();
  return Number(row?.id ?? 0);
}
