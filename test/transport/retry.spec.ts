import assert from 'node:assert/strict';
import { PermanentError, TransientError } from '../../src/errors.js';
import { backoffDelay, isTransientNetworkError, withRetry } from '../../src/transport/retry.js';

const policy = { attempts: 4, baseDelayMs: 10, maxDelayMs: 25 };
const econnrefused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

describe('transport/retry', function () {
  it('retries transient failures and returns the first success', async function () {
    const attempts: number[] = [];
    const result = await withRetry(async (attempt) => {
      attempts.push(attempt);
      if (attempt < 3) throw econnrefused();
      return 'connected';
    }, policy, { isTransient: isTransientNetworkError });
    assert.equal(result, 'connected');
    assert.deepEqual(attempts, [1, 2, 3]);
  });

  it('does not retry a permanent error', async function () {
    let calls = 0;
    await assert.rejects(withRetry(async () => { calls++; throw new PermanentError('host key mismatch'); }, policy, { isTransient: isTransientNetworkError }), /host key mismatch/);
    assert.equal(calls, 1);
  });

  it('gives up after the configured attempts with a TransientError carrying the last cause', async function () {
    let calls = 0;
    await assert.rejects(
      withRetry(async () => { calls++; throw econnrefused(); }, policy, { isTransient: isTransientNetworkError, what: 'SFTP connection to h:1' }),
      (err: Error) => err instanceof TransientError && err.message === 'SFTP connection to h:1 failed after 4 attempts: connect ECONNREFUSED 127.0.0.1:1' && (err.cause as any).code === 'ECONNREFUSED',
    );
    assert.equal(calls, 4);
  });

  it('backs off exponentially, capped, with jitter between half and all of the delay', function () {
    assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, policy, () => 0)), [5, 10, 13, 13]);
    assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, policy, () => 1)), [10, 20, 25, 25]);
    const big = { attempts: 10, baseDelayMs: 1000, maxDelayMs: 60_000 };
    assert.equal(backoffDelay(10, big, () => 1), 60_000);
  });

  it('stops waiting when the signal aborts (graceful shutdown)', async function () {
    const controller = new AbortController();
    const slow = { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 };
    setTimeout(() => controller.abort(new Error('shutting down')), 30);
    const started = Date.now();
    await assert.rejects(withRetry(async () => { throw econnrefused(); }, slow, { isTransient: isTransientNetworkError, signal: controller.signal }), /shutting down|aborted/);
    assert.ok(Date.now() - started < 2000);
  });

  it('classifies network errors as transient, everything else as not', function () {
    assert.equal(isTransientNetworkError(econnrefused()), true);
    assert.equal(isTransientNetworkError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), true);
    assert.equal(isTransientNetworkError(new Error('Timed out while waiting for handshake')), true);
    assert.equal(isTransientNetworkError(new TransientError('x')), true);
    assert.equal(isTransientNetworkError(new PermanentError('connect ECONNREFUSED')), false);
    assert.equal(isTransientNetworkError(new Error('All configured authentication methods failed')), false);
    assert.equal(isTransientNetworkError(Object.assign(new Error('Permission denied'), { code: 3 })), false);
  });
});
