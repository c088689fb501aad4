import assert from 'node:assert/strict';
import { request } from 'node:http';
import { hostname } from 'node:os';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { silentLogger } from '../../src/log.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { statusRoutes } from '../../src/web/status-routes.js';
import type { Health } from '../../src/daemon/health.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';

const TOKEN = 'rebinding-test-token-0123456789';

/** GET with the Host header a browser would send for the name it navigated to. */
function get(base: string, path: string, host: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, { headers: { ...headers, host }, agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!));
    }).on('error', reject).end();
  });
}

const health = async (): Promise<Health> => ({
  healthy: true, ready: true, problems: [], database: { reachable: true }, lease: { held: false, holder: null },
  bureau: { reachable: null, problems: [] },
  status: { role: 'standby', owner: 'h:1:a', activeSince: null, jobs: {} as Health['status']['jobs'] },
});

// the Host check does not depend on the database: SQLite alone
describeEachDatabase('status page without a token: DNS rebinding', (ctx) => {
  let open: HttpEndpoint;
  let guarded: HttpEndpoint;
  let port: string;

  before(async () => {
    const config = testConfig({ http: { enabled: true, port: 0 } });
    const data = makeStatusData({ db: ctx().db, config });
    const deps = { health, registry: new Registry(), log: silentLogger };
    open = await startHttpServer(config.http, { ...deps, page: statusRoutes(data) });
    guarded = await startHttpServer(config.http, { ...deps, page: statusRoutes(data, { token: TOKEN }) });
    port = new URL(open.url).port;
  });
  after(async () => {
    await open?.close();
    await guarded?.close();
  });

  it('a page and API asked for under a name of another site (rebound to this address) are refused, 421', async () => {
    for (const path of ['/', '/static/status.js', '/api/status', '/api/runs']) {
      assert.equal(await get(open.url, path, `attacker.example:${port}`), 421, path);
    }
    await fc.assert(fc.asyncProperty(fc.domain(), async (name) => {
      fc.pre(name !== 'localhost' && !name.endsWith('.localhost') && name !== hostname().toLowerCase());
      assert.equal(await get(open.url, '/api/status', `${name}:${port}`), 421, name);
    }), { numRuns: 30 });
  });

  it('asked for by address, localhost or the machine\'s name (a browser, an SSH tunnel, a proxy to 127.0.0.1), it answers', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost:19464', `[::1]:${port}`, `LOCALHOST.:${port}`, `${hostname()}:${port}`, '10.1.2.3']) {
      assert.equal(await get(open.url, '/api/status', host), 200, host);
      assert.equal(await get(open.url, '/', host), 200, host);
    }
  });

  it('the probes and /metrics answer any name (Prometheus scrapes by name); with a token the name does not matter', async () => {
    for (const path of ['/livez', '/healthz', '/metrics']) assert.equal(await get(open.url, path, `bx01.corp.example:${port}`), 200, path);
    assert.equal(await get(guarded.url, '/api/status', 'status.corp.example', { authorization: `Bearer ${TOKEN}` }), 200, 'a proxy forwarding its own Host, with the token');
    assert.equal(await get(guarded.url, '/api/status', 'status.corp.example'), 401);
  });
}, ['sqlite']);
