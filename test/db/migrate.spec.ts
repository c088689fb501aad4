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

  it('finds Marked contracts through a partial index (PostgreSQL: a table kept by triggers that fire always), and no index names a column the confirm writes', async () => {
    const { db, dialect } = ctx();
    if (dialect === 'sqlite') {
      const plan = await db.raw(`explain query plan select id from card_contracts where production_status = 'Marked' and batch_id is null and id > 0 order by id limit 10`);
      assert.match(JSON.stringify(plan), /card_contracts_marked_index/);
    } else if (dialect === 'pg') {
      const { rows } = await db.raw(`select reloptions from pg_class where relname = 'card_contracts'`);
      assert.deepEqual(rows[0].reloptions, ['fillfactor=50']);
      const indexes = await db.raw(`select indexdef from pg_indexes where tablename = 'card_contracts'`);
      const defs = indexes.rows.map((r: { indexdef: string }) => r.indexdef).join('\n');
      for (const column of ['production_status', 'batch_id', 'bureau_code', 'updated_at']) {
        assert.doesNotMatch(defs, new RegExp(column), `no index names ${column}: the confirm's write of it is in place (HOT)`);
      }
      const triggers = await db.raw(`select tgname, tgenabled from pg_trigger where tgrelid = 'card_contracts'::regclass and tgname like 'marked_contracts%' order by tgname`);
      assert.deepEqual(triggers.rows, [{ tgname: 'marked_contracts_inserted', tgenabled: 'A' }, { tgname: 'marked_contracts_updated', tgenabled: 'A' }]);
      // tgtype bits: 1 row, 2 before, 16 update
      const before = await db.raw(`select tgname from pg_trigger where tgrelid = 'card_contracts'::regclass and not tgisinternal and tgtype & 19 = 19`);
      assert.deepEqual(before.rows, [], 'no BEFORE row trigger on update: PostgreSQL would lock each row the confirm writes');
    } else {
      // MariaDB has no partial index: it keeps the composite index of 001, read from its catalogue
      const indexes = await mysqlIndexes(db, 'card_contracts');
      assert.deepEqual(indexes.get('card_contracts_production_status_batch_id_index'), { unique: false, columns: ['production_status', 'batch_id'] });
      assert.equal(indexes.has('card_contracts_marked_index'), false);
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
    } else if (dialect === 'mysql') {
      const indexes = await mysqlIndexes(db, 'batch_items');
      assert.deepEqual(indexes.get('batch_items_contract_id_batch_id_unique'), { unique: true, columns: ['contract_id', 'batch_id'] });
      assert.deepEqual([...indexes.keys()].filter((name) => name !== 'PRIMARY' && !name.endsWith('_foreign')).sort(), ['batch_items_contract_id_batch_id_unique']);
    } else {
      const { rows } = await db.raw(`select indexname, indexdef from pg_indexes where tablename = 'batch_items' order by indexname`);
      assert.deepEqual(rows.map((r: { indexname: string }) => r.indexname), ['batch_items_contract_id_batch_id_unique', 'batch_items_pkey']);
      assert.match(rows[0].indexdef, /UNIQUE INDEX batch_items_contract_id_batch_id_unique .*\(contract_id, batch_id\)/);
    }
    await clearSendTables(db);
  });

  it('refuses an item naming an unknown card or batch, and a card or batch an item names going or changing id (PostgreSQL: checks per statement)', async () => {
    const { db } = ctx();
    await clearSendTables(db);
    await insertCards(db, new PanCipher(newPanKey()), 1, 2);
    const [held, free] = (await db('card_contracts').orderBy('id').select('id')).map((r: { id: number }) => Number(r.id));
    const batch = await insertReturningId(db, 'perso_batches', {
      business_date: '2026-11-26', sequence: 1, file_name: 'F', state: 'claimed', record_count: 1, hash_total: '0', attempts: 0, created_at: 'n', updated_at: 'n',
    });
    const refused = (what: string, write: () => Promise<unknown>) => assert.rejects(write(), /foreign key|batch_items/i, what);
    await db('batch_items').insert({ batch_id: batch, record_number: 1, contract_id: held });
    await refused('an unknown card', () => db('batch_items').insert([{ batch_id: batch, record_number: 2, contract_id: free }, { batch_id: batch, record_number: 3, contract_id: free! + 1000 }]));
    await refused('an unknown batch', () => db('batch_items').insert({ batch_id: batch + 1000, record_number: 1, contract_id: free }));
    await refused('an item moved to an unknown card', () => db('batch_items').where({ contract_id: held }).update({ contract_id: free! + 1000 }));
    await refused('the delete of a held card', () => db.transaction(async (trx) => {
      await trx('contract_events').where({ contract_id: held }).delete();
      await trx('card_contracts').where({ id: held }).delete();
    }));
    await refused('the delete of a batch with items', () => db('perso_batches').where({ id: batch }).delete());
    await refused('a held card changing its id', () => db('card_contracts').where({ id: held }).update({ id: free! + 1000 }));
    assert.deepEqual(await db('batch_items').select('batch_id', 'record_number', 'contract_id').then((rows) => rows.map((r: any) => [Number(r.batch_id), Number(r.record_number), Number(r.contract_id)])),
      [[batch, 1, held]], 'only the valid item stays');
    await db.transaction(async (trx) => {
      await trx('contract_events').where({ contract_id: free }).delete();
      await trx('card_contracts').where({ id: free }).delete();
    });
    assert.equal(await db('card_contracts').where({ id: free }).first(), undefined, 'a card no item names can go');
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

/** MariaDB's indexes on a table of the current database, from information_schema.statistics. */
async function mysqlIndexes(db: import('knex').Knex, table: string): Promise<Map<string, { unique: boolean; columns: string[] }>> {
  const [rows] = await db.raw(
    `select index_name as name, non_unique as nonUnique, column_name as col from information_schema.statistics
     where table_schema = database() and table_name = ? order by index_name, seq_in_index`, [table]);
  const indexes = new Map<string, { unique: boolean; columns: string[] }>();
  for (const r of rows as Array<{ name: string; nonUnique: number | string; col: string }>) {
    const index = indexes.get(r.name) ?? { unique: Number(r.nonUnique) === 0, columns: [] };
    index.columns.push(r.col);
    indexes.set(r.name, index);
  }
  return indexes;
}
