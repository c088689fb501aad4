import assert from 'node:assert/strict';
import { deferred } from './fakes.js';
import { oneBureauScheduler } from './scheduler-harness.js';

/**
 * Activation reads each bureau's batches (resume, catch-up) before it schedules: with a slow database
 * that takes a while, and the daemon may be told to stop, or a cut-off may pass, meanwhile.
 */
describe('daemon activation while the batches are being read', () => {
  function setup(start: string) {
    const reading = deferred<string[]>();
    // an unfinished batch (resume) and no batch sent since the last cut-off (catch-up)
    const batches = { unfinishedDates: () => reading.promise, hasSentBatch: async () => false };
    return { ...oneBureauScheduler({ start, schedule: { catchUp: true }, batches }), reading };
  }

  it('a stop (SIGTERM, the lease lost) during activation starts no run once the reading ends', async () => {
    const { sendJob, receiveJob, scheduler, reading } = setup('2026-11-27T17:00:00Z');
    const activating = scheduler.activate();
    await scheduler.deactivate('SIGTERM received');
    reading.resolve(['2026-11-26']);
    await activating.catch(() => undefined);
    await scheduler.settled();
    assert.equal(sendJob.calls.length, 0, 'no resume or catch-up after the stop');
    assert.equal(receiveJob.calls.length, 0, 'no receive after the stop');
  });

  it('a cut-off that passes during activation still fires', async () => {
    // Friday 27 November 2026, 16:59:55 Berlin; the cut-off is 17:00 (16:00 UTC)
    const { clock, sendJob, scheduler, reading } = setup('2026-11-27T15:59:55Z');
    const activating = scheduler.activate();
    clock.set('2026-11-27T16:00:05Z');
    scheduler.tick(); // the ticker does not wait for the activation
    reading.resolve([]);
    await activating;
    clock.set('2026-11-27T16:00:15Z');
    scheduler.tick();
    await scheduler.settled();
    const reasons = sendJob.calls.map((c) => c.businessDate);
    // the catch-up is of Thursday's cut-off (the last one before the activation), then Friday's
    assert.deepEqual(reasons, ['2026-11-26', '2026-11-27']);
  });
});
