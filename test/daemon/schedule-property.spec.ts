import assert from 'node:assert/strict';
import fc from 'fast-check';
import { oneBureauScheduler } from './scheduler-harness.js';

const HOUR = 3_600_000;

/**
 * Whatever the ticks (late, early, a clock stepped back by up to a few hours, across the DST
 * changes of the zone), each business day's 17:00 Berlin cut-off is sent once, and no other day's.
 */
describe('schedule: each business cut-off once, whatever the ticks (property)', () => {
  it('holds for random tick sequences over the spring and autumn changes', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('2026-03-20T12:00:00Z', '2026-10-18T12:00:00Z', '2026-12-20T12:00:00Z'),
      // steps forward of a second to 20 hours (under a day: no two cut-offs in one window), some back
      fc.array(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1000, max: 20 * HOUR }) }, { weight: 1, arbitrary: fc.integer({ min: -3 * HOUR, max: -1000 }) }), { minLength: 20, maxLength: 60 }),
      async (start, steps) => {
        // the DE calendar, catch-up off, nothing to resume
        const { clock, plan, sendJob, scheduler, tickAfter } = oneBureauScheduler({ start });
        await scheduler.activate();
        let highest = clock().getTime();
        for (const step of steps) {
          await tickAfter(step);
          highest = Math.max(highest, clock().getTime());
        }
        const fired = sendJob.calls.map((c) => c.businessDate!);
        // every tick that reached a new furthest time covered the window up to it
        const expected = plan.sendSlotsBetween(new Date(start), new Date(highest)).filter((s) => !s.notBusiness).map((s) => s.date);
        assert.deepEqual(fired, expected);
      },
    ), { numRuns: 150 });
  });
});
