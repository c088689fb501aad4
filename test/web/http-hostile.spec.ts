import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { HTTP_LIMITS, startHttpServer, type HttpEndpoint } from '../../src/daemon/http.js';
import { silentLogger } from '../../src/log.js';
import type { Health } from '../../src/daemon/health.js';
import { waitFor } from '../helpers/wait.js';

/** One raw request on its own connection, as an attacker would write it; resolves with the status line's code. */
function rawRequest(base: string, head: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head));
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      status ? resolve(Number(status[1])) : reject(new Error(`no answer to ${JSON.stringify(head.split('\r\n')[0])}: ${JSON.stringify(text)}`));
    });
  });
}

const health = async (): Promise<Health> => ({
  healthy: true, ready: true, problems: [], database: { reachable: true }, lease: { held: true, holder: null },
  bureau: { reachable: null, problems: [] },
  status: { role: 'active', owner: 'h:1:a', activeSince: null, jobs: {} as Health['status']['jobs'] },
});

describe('HTTP endpoint under hostile request lines', () => {
  let http: HttpEndpoint;
  before(async () => {
    http = await startHttpServer({ enabled: true, host: '127.0.0.1', port: 0 }, { health, registry: new Registry(), log: silentLogger });
  });
  after(() => http?.close());

  it('a request target that no URL parser takes (`//[`) is answered, and the process goes on serving', async () => {
    const status = (target: string) => rawRequest(http.url, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    // `//…` is a path (not a host, as `new URL(target, base)` read it): nothing is served there
    for (const target of ['//[', '//a:b@[/', '//%zz:0/', '//evil.example/metrics']) assert.equal(await status(target), 404, target);
    assert.equal(await status('http://[::1'), 400, 'an absolute URL that is none');
    assert.equal(await rawRequest(http.url, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 200);
  });

  it('any request target the HTTP parser lets through is answered below 500, and the next request still is', async () => {
    const char = fc.constantFrom(...'/[]@:%?#.\\abc019~!$&\'()*+,;=_-'.split(''));
    await fc.assert(fc.asyncProperty(fc.array(char, { maxLength: 40 }).map((cs) => cs.join('')), async (target) => {
      const status = await rawRequest(http.url, `GET ${target || '/'} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.ok(status < 500, `${target}: ${status}`);
      assert.equal(await rawRequest(http.url, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 200);
    }), { numRuns: 150 });
  });

  it('connections that never finish a request (slowloris) are bounded: past the limit closed at once, the others after the headers timeout', async function () {
    this.timeout(120_000);
    const { hostname, port } = new URL(http.url);
    const extra = 20;
    let closed = 0;
    const sockets = Array.from({ length: HTTP_LIMITS.maxConnections + extra }, (_, i) => {
      const socket = connect(Number(port), hostname, () => { if (i % 2) socket.write('GET /metrics HTTP/1.1\r\nHo'); });
      // read what comes (the 408), or the server's close is never seen
      socket.on('error', () => {}).on('close', () => closed++).resume();
      return socket;
    });
    try {
      // each held connection is a file descriptor of the daemon, whose jobs need them (SFTP, database, files)
      await waitFor(`the ${extra} connections past the limit closed`, () => closed >= extra, HTTP_LIMITS.headersTimeoutMs);
      await waitFor('every idle connection closed', () => closed === sockets.length, HTTP_LIMITS.headersTimeoutMs * 3);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    assert.equal(await rawRequest(http.url, 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 200);
  });
});
