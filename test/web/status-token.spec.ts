import assert from 'node:assert/strict';
import { request } from 'node:http';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import type { Health } from '../../src/daemon/health.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { makeStatusData, type StatusData } from '../../src/web/status-data.js';
import { statusRoutes, statusTokenFromEnv } from '../../src/web/status-routes.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';

const printable = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const unsendable = fc.constantFrom(' ', '\n', '\r', '\t', 'é', '€', '\u00a0', '\x7f');

function status(url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => res.resume().on('end', () => resolve(res.statusCode!)))
      .on('error', reject).end();
  });
}

const health = async (): Promise<Health> => { throw new Error('not asked'); };

// the token does not depend on the database: SQLite alone
describeEachDatabase('BX_STATUS_TOKEN: every token accepted at start can be presented', (ctx) => {
  let data: StatusData;
  before(() => {
    data = makeStatusData({ db: ctx().db, config: testConfig() });
  });

  it('a token with a character no Bearer header carries (a line break from a file, a space, non-ASCII) stops the start, naming it', () => {
    fc.assert(fc.property(fc.array(printable, { minLength: 16, maxLength: 40 }), unsendable, fc.nat(), (chars, bad, at) => {
      const token = [...chars.slice(0, at % (chars.length + 1)), bad, ...chars.slice(at % (chars.length + 1))].join('');
      assert.throws(() => statusTokenFromEnv({ BX_STATUS_TOKEN: token }), (err: Error) =>
        err instanceof ConfigError && /^BX_STATUS_TOKEN: character \d+ of \d+ is no printable ASCII/.test(err.message) && !err.message.includes(token));
    }));
    // the usual way to get one: `BX_STATUS_TOKEN=$(cat file)` drops the line break, a file read raw does not
    assert.throws(() => statusTokenFromEnv({ BX_STATUS_TOKEN: '0123456789abcdef0123456789abcdef\n' }), /character 33 of 33/);
  });

  it('a token of printable characters is taken, and a request bearing it gets the page', async () => {
    await fc.assert(fc.asyncProperty(fc.array(printable, { minLength: 16, maxLength: 64 }).map((cs) => cs.join('')), async (given) => {
      const token = statusTokenFromEnv({ BX_STATUS_TOKEN: given })!;
      const http: HttpEndpoint = await startHttpServer({ enabled: true, host: '127.0.0.1', port: 0 }, { health, registry: new Registry(), log: silentLogger, page: statusRoutes(data, { token }) });
      try {
        assert.equal(await status(`${http.url}/`, token), 200);
        assert.equal(await status(`${http.url}/`, `${token}x`), 401);
      } finally {
        await http.close();
      }
    }), { numRuns: 25 });
  });
}, ['sqlite']);
