import assert from 'node:assert/strict';
import { oneBureauScheduler } from './scheduler-harness.js';

/**
 * A VM suspended for days (or a process stopped with SIGSTOP) wakes up with one tick whose window
 * holds several cut-offs: like the catch-up at start, one send, for the latest business day's cut-off.
 */
describe('a tick after days of suspension', () => {
  const setup = (start: string, sendAt = ['17:00']) => oneBureauScheduler({ start, schedule: { sendAt } });

  it('sends once, for the latest cut-off the window passed on a business day', async () => {
    // suspended Tuesday 08:00 Berlin, resumed Friday 09:00: Tuesday's, Wednesday's and Thursday's cut-offs passed
    const { sendJob, scheduler, tickAt } = setup('2026-11-24T07:00:00Z');
    await scheduler.activate();
    await tickAt('2026-11-27T08:00:00Z');
    assert.deepEqual(sendJob.calls.map((c) => c.businessDate), ['2026-11-26']);
  });

  it('over a weekend and Christmas: the last business day before it', async () => {
    const { sendJob, scheduler, tickAt } = setup('2026-12-24T08:00:00Z', ['11:00', '17:00']);
    await scheduler.activate();
    await tickAt('2026-12-28T08:00:00Z'); // Monday morning
    assert.deepEqual(sendJob.calls.map((c) => [c.businessDate]), [['2026-12-24']]);
  });
});
