import { strict as assert } from 'node:assert';
import { unfinishedBatches } from '../../src/db/batches.js';
import { isBureausRow, rowBureau, whereBureau } from '../../src/db/bureau-scope.js';
import { nextSequence } from '../../src/db/claim.js';
import { clearSendTables } from '../outbound/fixtures.js';
import { describeEachDatabase } from '../helpers/db.js';

const DATE = '2026-11-26';
const FIRST = { code: 'BUREAU01', first: true };
const OTHER = { code: 'EMB01', first: false };

describeEachDatabase('batches per bureau (migration 005)', (ctx) => {
  const batch = (bureau: string | null, sequence: number, state = 'sent') => ({
    bureau_code: bureau, business_date: DATE, sequence, file_name: `F_${bureau ?? 'none'}_${sequence}`, state,
    record_count: 0, hash_total: '0', attempts: 0, created_at: '2026-11-26T08:00:00.000Z', updated_at: '2026-11-26T08:00:00.000Z',
  });

  beforeEach(async () => clearSendTables(ctx().db));

  it('the daily sequence is unique per bureau and date: two bureaus each have their file 1, one bureau never twice', async () => {
    const { db } = ctx();
    await db('perso_batches').insert(batch('BUREAU01', 1));
    await db('perso_batches').insert(batch('EMB01', 1));
    await assert.rejects(db('perso_batches').insert({ ...batch('EMB01', 1), file_name: 'another name' }));
    assert.equal(await nextSequence(db, DATE, FIRST), 2);
    assert.equal(await nextSequence(db, DATE, OTHER), 2);
    assert.equal(await nextSequence(db, '2026-11-27', OTHER), 1);
  });

  it('a batch without a bureau code (made before) is the first bureau\'s: its sequence and its unfinished batches, not another\'s', async () => {
    const { db } = ctx();
    await db('perso_batches').insert(batch(null, 1, 'encrypted'));
    await db('perso_batches').insert(batch('EMB01', 1, 'uploaded'));
    assert.equal(await nextSequence(db, DATE, FIRST), 2);
    assert.equal(await nextSequence(db, DATE, OTHER), 2);
    assert.deepEqual((await unfinishedBatches(db, FIRST)).map((b) => [b.fileName, b.bureauCode]), [['F_none_1', null]]);
    assert.deepEqual((await unfinishedBatches(db, OTHER)).map((b) => [b.fileName, b.bureauCode]), [['F_EMB01_1', 'EMB01']]);
    assert.equal((await unfinishedBatches(db)).length, 2, 'without a bureau: every bureau\'s');
  });

  it('the rule for rows without a code says the same in SQL and in code: whereBureau selects exactly the rows isBureausRow and rowBureau give the bureau', async () => {
    const { db } = ctx();
    const codes = [null, 'BUREAU01', 'EMB01', 'OTHER02'];
    for (const [i, code] of codes.entries()) await db('perso_batches').insert(batch(code, i + 1));
    for (const scope of [FIRST, OTHER, { code: 'OTHER02', first: false }, { code: 'EMB01', first: true }]) {
      const selected = (await whereBureau(db('perso_batches'), scope).select('bureau_code').orderBy('sequence')).map((r: { bureau_code: string | null }) => r.bureau_code);
      const first = scope.first ? scope.code : 'BUREAU01';
      assert.deepEqual(selected, codes.filter((code) => isBureausRow(code, scope)), `scope ${JSON.stringify(scope)}`);
      assert.deepEqual(selected.map((code) => rowBureau(code, first)), selected.map(() => scope.code), `scope ${JSON.stringify(scope)}: each shown as its bureau`);
    }
  });
});
