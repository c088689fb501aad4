import { strict as assert } from 'node:assert';
import knexFactory from 'knex';
import { IDLE_IN_TRANSACTION_SECONDS, LOCK_WAIT_SECONDS, openDatabase } from '../../src/db/connection.js';
import { countMarked } from '../../src/db/marked.js';
import { DIALECTS, describeEachDatabase } from '../helpers/db.js';

/** The first row of a raw query's result, on pg ({ rows }) and mysql2 ([rows, fields]). */
function firstRow(result: any): Record<string, unknown> {
  return Array.isArray(result) ? result[0][0] : result.rows[0];
}

// A lock another client holds (the card system's ALTER TABLE or LOCK TABLES) must not make a send wait
// forever with its lease held: our sessions bound lock waits unless the operator bounded them already.
describeEachDatabase('lock waits of our sessions', (ctx) => {
  it('are bounded on a fresh connection, and MariaDB keeps READ COMMITTED', async () => {
    const { db, dialect } = ctx();
    if (dialect === 'pg') {
      assert.equal(firstRow(await db.raw('SHOW lock_timeout')).lock_timeout, `${LOCK_WAIT_SECONDS / 60}min`);
      assert.equal(firstRow(await db.raw('SHOW idle_in_transaction_session_timeout')).idle_in_transaction_session_timeout, `${IDLE_IN_TRANSACTION_SECONDS / 60}min`);
    } else {
      const row = firstRow(await db.raw('SELECT @@session.lock_wait_timeout AS waits, @@session.tx_isolation AS isolation'));
      assert.equal(Number(row.waits), LOCK_WAIT_SECONDS);
      assert.equal(row.isolation, 'READ-COMMITTED');
    }
  });
}, DIALECTS.filter((d) => d !== 'sqlite'));

// MariaDB takes no session variables in its URL: the test above covers its bound
describeEachDatabase('lock waits, bounded by the operator', (ctx) => {
  it('keep the bound the URL sets, and a statement on a locked table then fails in that time', async () => {
    const { database } = ctx();
    const url = new URL(database.url!);
    url.searchParams.set('options', '-c lock_timeout=1500ms');
    const ours = openDatabase({ database: { ...database, url: url.toString() } });
    const other = knexFactory({ client: 'pg', connection: database.url!, pool: { min: 0, max: 1 } });
    try {
      assert.equal(firstRow(await ours.raw('SHOW lock_timeout')).lock_timeout, '1500ms');
      await other.transaction(async (trx) => {
        await trx.raw('LOCK TABLE card_contracts IN ACCESS EXCLUSIVE MODE');
        const started = Date.now();
        let failure: unknown;
        await countMarked(ours).catch((err) => { failure = err; });
        assert.match(String(failure), /lock timeout/);
        const waited = Date.now() - started;
        assert.ok(waited >= 1000 && waited < 10_000, `waited ${waited} ms`);
      });
    } finally {
      await ours.destroy();
      await other.destroy();
    }
  });
}, DIALECTS.filter((d) => d === 'pg'));
