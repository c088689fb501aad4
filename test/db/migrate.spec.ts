import { strict as assert } from 'node:assert';
import { migrateDownAll, migrateLatest, pendingMigrations } from '../../src/db/migrate.js';
import { describeEachDatabase } from '../helpers/db.js';

const TABLES = ['clients', 'card_contracts', 'perso_batches', 'batch_items', 'bureau_reports', 'report_anomalies', 'contract_events', 'plastic_stock', 'leases'];

describeEachDatabase('migrations', (ctx) => {
  it('creates every table of the data model, nothing pending', async () => {
    const { db } = ctx();
    for (const table of TABLES) assert.ok(await db.schema.hasTable(table), table);
    assert.deepEqual(await pendingMigrations(db), []);
  });

  it('rolls all the way down and up again', async () => {
    const { db } = ctx();
    const undone = await migrateDownAll(db);
    assert.ok(undone.length >= 1);
    for (const table of TABLES) assert.equal(await db.schema.hasTable(table), false, table);
    const applied = await migrateLatest(db);
    assert.deepEqual([...applied].sort(), [...undone].sort());
    for (const table of TABLES) assert.ok(await db.schema.hasTable(table), table);
    assert.deepEqual(await migrateLatest(db), [], 'a second run applies nothing');
  });
});
