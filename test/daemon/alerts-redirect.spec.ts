import assert from 'node:assert/strict';
import { makeAlerter } from '../../src/daemon/alerts.js';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
import { startWebhook } from '../helpers/webhook.js';

/**
 * A webhook that answers the POST with a redirect to a path of its own that answers any request 200:
 * what a proxy's login page or an http→https move does. Records every request that reaches it.
 */
function redirectingWebhook(status: number) {
  return startWebhook((request, res) => {
    if (request.url === '/hook') res.writeHead(status, { location: '/elsewhere' }).end();
    else res.writeHead(200).end('ok');
  });
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
