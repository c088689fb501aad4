import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import type { ReceiveResult } from '../../src/jobs.js';
import { DIALECTS, describeEachDatabase } from '../helpers/db.js';
import { header, reportName, shipment, xmlOf } from './fixtures.js';
import { settledOrWaiting } from '../helpers/db.js';
import { startReceiveBench, within, type ReceiveBench } from './harness.js';
import { contractOf, seedBatch } from './seed.js';

/**
 * The card system and a report lock the same two cards in opposite orders: the database ends one of
 * the two transactions (deadlock). When it is the report's, the apply is tried again (the card
 * system's transaction has ended by then): a good report is neither quarantined nor left for a later
 * run, and the run does not fail (a failed run alerts a person for a conflict the database resolved).
 */
describeEachDatabase('receive: a deadlock with the card system', (ctx) => {
  let bench: ReceiveBench;
  before(async function () { bench = await startReceiveBench(this); });
  after(async () => { await bench?.stop(); });

  it('the report\'s transaction, when it is the one ended, is tried again: applied once by that run, never quarantined', async function () {
    this.timeout(120_000);
    const { db, database } = ctx();
    bench.bureau.clear();
    const workDir = mkdtempSync(join(tmpdir(), 'bx-recv-deadlock-'));
    try {
      const config = bench.config(workDir);
      const batch = await seedBatch(db, [41, 42]);
      const name = reportName();
      bench.bureau.put(name, encryptRsaReport(Buffer.from(xmlOf({
        header: header(batch.fileName), rejections: [], shipments: [shipment(41, { shipped: '2026-11-26', sequence: 1 }), shipment(42, { shipped: '2026-11-26', sequence: 2 })], stock: [],
      })), bench.ours.publicPem));
      const cardSystem = await db.transaction();
      // the card system holds the second card; the report takes the first and waits for the second
      await cardSystem('card_contracts').where({ id: batch.ids.get(42) }).update({ updated_at: '2026-11-26T06:59:00.000Z' });
      const first = bench.run(db, config).then((r): ReceiveResult | Error => r, (err: Error) => err);
      await settledOrWaiting(database, first);
      // then the card system wants the first: a cycle
      const cardSystemDone = cardSystem('card_contracts').where({ id: batch.ids.get(41) }).update({ updated_at: '2026-11-26T06:59:01.000Z' })
        .then(() => cardSystem.commit(), async (err: Error) => { await cardSystem.rollback().catch(() => undefined); return err; });
      const outcome = await within(first, 60_000, 'the receive run');
      await within(cardSystemDone, 60_000, 'the card system\'s transaction');
      const again = await bench.run(db, config);
      // the database chose its victim: the report's transaction is tried again, so this run applied it either way
      assert.ok(!(outcome instanceof Error), `the run failed: ${outcome instanceof Error ? outcome.message : ''}`);
      assert.deepEqual([outcome.applied.length, outcome.quarantined, again.applied.length, again.duplicates], [1, [], 0, 0], 'applied once, by the first run');
      for (const n of [41, 42]) assert.equal((await contractOf(db, n)).production_status, 'Shipped');
      assert.deepEqual(bench.bureau.files('failed'), []);
      assert.deepEqual(bench.bureau.files('processed'), [name]);
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  });
}, DIALECTS.filter((d) => d !== 'sqlite'));
