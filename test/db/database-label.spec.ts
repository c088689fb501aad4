import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { databaseLabel } from '../../src/db/connection.js';

// databaseLabel names the database in messages (a database not migrated, `migrate --down`'s
// confirmation): never with its password, wherever the URL carries it.
describe('databaseLabel: the database URL as messages show it', () => {
  const label = (client: 'pg' | 'mysql', url: string) =>
    databaseLabel({ database: { client, url, filename: ':memory:', passwordEnv: 'BX_DB_PASSWORD', pool: { min: 0, max: 5 }, migrateOnStart: true } });
  const secret = fc.string({ minLength: 8, maxLength: 30, unit: fc.constantFrom(...'abcdefghijkXYZ0123456789!$*-_.~') }).map((s) => `Pw${s}`);

  it('a password in the user part or as a password= parameter (libpq, mysql2 URLs) is never shown; the rest is', () => {
    fc.assert(fc.property(fc.constantFrom<'pg' | 'mysql'>('pg', 'mysql'), secret, fc.boolean(), fc.constantFrom('password', 'PASSWORD', 'sslpassword'), (client, pw, inUser, param) => {
      const scheme = client === 'pg' ? 'postgres' : 'mysql';
      const url = inUser
        ? `${scheme}://bx:${encodeURIComponent(pw)}@db.example:5432/bx?sslmode=verify-full`
        : `${scheme}://bx@db.example:5432/bx?sslmode=verify-full&${param}=${encodeURIComponent(pw)}&connect_timeout=10`;
      const shown = label(client, url);
      assert.ok(!shown.includes(pw) && !shown.includes(encodeURIComponent(pw)), `${shown} shows the password`);
      assert.match(shown, /db\.example:5432\/bx\?sslmode=verify-full/);
      if (!inUser) assert.match(shown, /connect_timeout=10/);
    }), { numRuns: 200 });
  });
});
