import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeAlerter } from '../../src/daemon/alerts.js';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';

/**
 * A webhook that answers the POST with a redirect to a path of its own that answers any request 200:
 * what a proxy's login page or an http→https move does. Records every request that reaches it.
 */
async function redirectingWebhook(status: number) {
  const requests: Array<{ method: string; url: string; body: string }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, body });
      if (req.url === '/hook') res.writeHead(status, { location: '/elsewhere' }).end();
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('alerts webhook that redirects', () => {
  for (const status of [301, 302, 303, 307, 308]) {
    it(`HTTP ${status}: the alert is not counted as delivered, it is retried and then logged as given up`, async () => {
      const hook = await redirectingWebhook(status);
      try {
        const lines: Array<{ msg: string }> = [];
        const log = createLogger({ destination: new Writable({ write: (c, _e, done) => { lines.push(JSON.parse(c.toString())); done(); } }) });
        const alerter = makeAlerter({ webhookUrl: hook.url, retries: 1 }, { log, retryBaseMs: 5 });
        const delivered = await alerter.send({ kind: 'failure', severity: 'critical', message: 'send failed' });
        // a 301/302/303 turns the POST into a GET without the body: the alert never reached anyone
        assert.equal(delivered, false, `requests: ${JSON.stringify(hook.requests.map((r) => [r.method, r.url]))}`);
        assert.deepEqual(hook.requests.map((r) => [r.method, r.url]), [['POST', '/hook'], ['POST', '/hook']], 'the redirect is not followed');
        assert.ok(lines.some((l) => l.msg === 'alert webhook failed: giving up'));
      } finally {
        await hook.close();
      }
    });
  }
});
