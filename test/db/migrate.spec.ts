import { strict as assert } from 'node:assert';
import { migrateDownAll, migrateLatest, pendingMigrations } from '../../src/db/migrate.js';
import { NOT_IN_UNSENT_BATCH } from '../../src/db/unsent-batch.js';
import { insertReturningId } from '../../src/db/connection.js';
import { PanCipher } from '../../src/security/pan.js';
import { clearSendTables, insertCards } from '../outbound/fixtures.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';

const TABLES = ['clients', 'card_contracts', 'perso_batches', 'batch_items', 'bureau_reports', 'report_anomalies', 'contract_events', 'plastic_stock', 'leases'];

describeEachDatabase('migrations', (ctx) => {
  it('creates every table of the data model, nothing pending', async () => {
    const { db } = ctx();
    for (const table of TABLES) assert.ok(await db.schema.hasTable(table), table);
    assert.deepEqual(await pendingMigrations(db), []);
  });

  it('finds Marked contracts through a partial index; on PostgreSQL card_contracts keeps room for in-place updates', async () => {
    const { db, dialect } = ctx();
    if (dialect === 'sqlite') {
      const plan = await db.raw(`explain query plan select id from card_contracts where production_status = 'Marked' and batch_id is null and id > 0 order by id limit 10`);
      assert.match(JSON.stringify(plan), /card_contracts_marked_index/);
    } else if (dialect === 'pg') {
      const { rows } = await db.raw(`select reloptions from pg_class where relname = 'card_contracts'`);
      assert.deepEqual(rows[0].reloptions, ['fillfactor=50']);
      const indexes = await db.raw(`select indexdef from pg_indexes where tablename = 'card_contracts'`);
      const defs = indexes.rows.map((r: { indexdef: string }) => r.indexdef).join('\n');
      assert.match(defs, /card_contracts_marked_index .*\(id\) WHERE \(\(production_status\)::text = 'Marked'::text\)/);
      assert.doesNotMatch(defs, /batch_id/, 'no index holds batch_id: writing it costs no index entry');
    } else {
      assert.ok(await db.schema.hasColumn('card_contracts', 'production_status'), 'MariaDB keeps its composite index');
    }
  });

  it('keeps a card once per batch, and finds a card\'s items through one index on contract_id first', async () => {
    const { db, dialect } = ctx();
    await clearSendTables(db);
    await insertCards(db, new PanCipher(newPanKey()), 1, 1);
    const contract = await db('card_contracts').first('id');
    const batch = await insertReturningId(db, 'perso_batches', {
      business_date: '2026-11-26', sequence: 1, file_name: 'F', state: 'claimed', record_count: 1, hash_total: '0', attempts: 0, created_at: 'n', updated_at: 'n',
    });
    await db('batch_items').insert({ batch_id: batch, record_number: 1, contract_id: contract.id });
    await assert.rejects(db('batch_items').insert({ batch_id: batch, record_number: 2, contract_id: contract.id }));
    if (dialect === 'sqlite') {
      const plan = await db.raw(`explain query plan select c.id from card_contracts as c where ${NOT_IN_UNSENT_BATCH}`);
      assert.match(JSON.stringify(plan), /batch_items_contract_id_batch_id_unique/);
    }
    await clearSendTables(db);
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
