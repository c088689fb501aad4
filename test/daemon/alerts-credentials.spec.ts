import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { makeAlerter } from '../../src/daemon/alerts.js';
import { createLogger } from '../../src/log.js';
import { startWebhook } from '../helpers/webhook.js';

/** A webhook behind HTTP basic authentication; records the Authorization header of each request. */
async function basicAuthWebhook() {
  const hook = await startWebhook((request, res) => {
    res.writeHead(request.headers.authorization ? 200 : 401).end();
  });
  return { ...hook, get authorizations() { return hook.requests.map((r) => r.headers.authorization); } };
}

describe('alerts webhook URL with credentials (https://user:token@host/…)', () => {
  it('delivers with the credentials as basic authentication, and never logs them', async () => {
    const hook = await basicAuthWebhook();
    try {
      const lines: string[] = [];
      const log = createLogger({ destination: new Writable({ write: (c, _e, done) => { lines.push(c.toString()); done(); } }) });
      const alerter = makeAlerter({ webhookUrl: `http://alerts:s3cret-token@127.0.0.1:${hook.port}/hook`, retries: 1 }, { log, retryBaseMs: 5 });
      const delivered = await alerter.send({ kind: 'failure', severity: 'critical', message: 'send failed' });
      assert.ok(!lines.join('').includes('s3cret-token'), lines.join(''));
      assert.equal(delivered, true, lines.join(''));
      assert.deepEqual(hook.authorizations, [`Basic ${Buffer.from('alerts:s3cret-token').toString('base64')}`]);
    } finally {
      await hook.close();
    }
  });
});
