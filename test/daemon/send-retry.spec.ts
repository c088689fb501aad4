import assert from 'node:assert/strict';
import { TransientError } from '../../src/errors.js';
import { oneBureauScheduler } from './scheduler-harness.js';

describe('send retries across cut-offs', () => {
  it("a retry after the next cut-off failed too is of that cut-off's business date, not of the first failure's", async () => {
    // Thursday, before the 17:00 Berlin cut-off
    const { sendJob, scheduler, runUntil } = oneBureauScheduler({ start: '2026-11-26T15:59:00Z' });
    await scheduler.activate();
    sendJob.fail = new TransientError('connection refused');
    // the bureau's server is down from Thursday's cut-off to after Friday's
    await runUntil('2026-11-27T16:10:00Z');
    sendJob.fail = undefined;
    await runUntil('2026-11-27T17:00:00Z');
    const last = sendJob.calls.at(-1)!;
    assert.equal(last.businessDate, '2026-11-27', `the succeeding retry: ${JSON.stringify(sendJob.calls.map((c) => c.businessDate))}`);
  });
});
