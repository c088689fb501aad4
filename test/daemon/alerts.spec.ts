import assert from 'node:assert/strict';
import { makeAlerter } from '../../src/daemon/alerts.js';
import { silentLogger } from '../../src/log.js';
import { withLuhn } from '../helpers/cards.js';
import { startWebhook } from '../helpers/webhook.js';
import { manualClock } from './fakes.js';

type Hook = Awaited<ReturnType<typeof webhook>>;

/** A local webhook receiver that answers with the given statuses in turn (then 200). */
async function webhook(statuses: number[] = []) {
  const hook = await startWebhook((_request, res) => {
    res.writeHead(statuses.shift() ?? 200).end();
  });
  return {
    ...hook,
    /** the requests as the alert's receiver reads them */
    get received(): Array<Record<string, any>> {
      return hook.requests.map((r) => ({ method: r.method, contentType: r.headers['content-type'], body: JSON.parse(r.body) }));
    },
  };
}

/** Runs `use` with a webhook of the given statuses, closed after. */
async function withWebhook(statuses: number[], use: (hook: Hook) => Promise<void>): Promise<void> {
  const hook = await webhook(statuses);
  try {
    await use(hook);
  } finally {
    await hook.close();
  }
}

describe('alerts webhook', () => {
  it('POSTs the alert as JSON', () => withWebhook([], async (hook) => {
    const alerter = makeAlerter({ webhookUrl: hook.url, retries: 0 }, { log: silentLogger });
    assert.equal(await alerter.send({ kind: 'quarantine', severity: 'critical', message: 'report X quarantined: bad XML', details: { remoteName: 'X' } }), true);
    assert.equal(hook.received.length, 1);
    const { method, contentType, body } = hook.received[0]!;
    assert.equal(method, 'POST');
    assert.equal(contentType, 'application/json');
    assert.equal(body.kind, 'quarantine');
    assert.equal(body.severity, 'critical');
    assert.equal(body.message, 'report X quarantined: bad XML');
    assert.deepEqual(body.details, { remoteName: 'X' });
    assert.equal(body.service, 'bureau-exchange');
    assert.ok(!Number.isNaN(Date.parse(body.at)));
  }));

  it('retries after failures, then succeeds', () => withWebhook([500, 503], async (hook) => {
    const alerter = makeAlerter({ webhookUrl: hook.url, retries: 3 }, { log: silentLogger, retryBaseMs: 5 });
    assert.equal(await alerter.send({ kind: 'failure', severity: 'critical', message: 'send failed' }), true);
    assert.equal(hook.received.length, 3);
  }));

  it('gives up after the configured retries without throwing', () => withWebhook([500, 500, 500, 500], async (hook) => {
    const alerter = makeAlerter({ webhookUrl: hook.url, retries: 2 }, { log: silentLogger, retryBaseMs: 5 });
    assert.equal(await alerter.send({ kind: 'failure', severity: 'critical', message: 'send failed' }), false);
    assert.equal(hook.received.length, 3);
  }));

  it('survives an unreachable webhook', async () => {
    const hook = await webhook();
    await hook.close();
    const alerter = makeAlerter({ webhookUrl: hook.url, retries: 1 }, { log: silentLogger, retryBaseMs: 5 });
    assert.equal(await alerter.send({ kind: 'failure', severity: 'critical', message: 'x' }), false);
  });

  it('never sends a clear PAN', () => withWebhook([], async (hook) => {
    const pan = withLuhn('535522001234567');
    const alerter = makeAlerter({ webhookUrl: hook.url, retries: 0 }, { log: silentLogger });
    await alerter.send({ kind: 'failure', severity: 'critical', message: `failed on ${pan}`, details: { note: `card ${pan}` } });
    const raw = JSON.stringify(hook.received[0]!.body);
    assert.ok(!raw.includes(pan), raw);
  }));

  it('sends a repeated alert (same dedupe key) once a day', () => withWebhook([], async (hook) => {
    const clock = manualClock('2026-11-26T08:00:00Z');
    const alerter = makeAlerter({ webhookUrl: hook.url, retries: 0 }, { log: silentLogger, clock });
    const alert = { kind: 'key-expiry' as const, severity: 'warning' as const, message: 'bureau key expires in 20 days' };
    assert.equal(await alerter.send(alert, { dedupeKey: 'key:ABC' }), true);
    clock.advance(3_600_000);
    assert.equal(await alerter.send(alert, { dedupeKey: 'key:ABC' }), false);
    clock.advance(24 * 3_600_000);
    assert.equal(await alerter.send(alert, { dedupeKey: 'key:ABC' }), true);
    assert.equal(hook.received.length, 2);
  }));

  it('without a webhook URL only logs', async () => {
    const alerter = makeAlerter({ retries: 3 }, { log: silentLogger });
    assert.equal(await alerter.send({ kind: 'low-stock', severity: 'warning', message: 'low' }), false);
  });
});
