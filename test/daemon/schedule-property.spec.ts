import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeCalendar } from '../../src/calendar/index.js';
import { makeJobRunner } from '../../src/daemon/job-runner.js';
import { makeSchedulePlan } from '../../src/daemon/plan.js';
import { makeScheduler } from '../../src/daemon/scheduler.js';
import type { ReceiveOptions, ReceiveResult, SendOptions, SendResult } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';

const HOUR = 3_600_000;

/**
 * Whatever the ticks (late, early, a clock stepped back by up to a few hours, across the DST
 * changes of the zone), each business day's 17:00 Berlin cut-off is sent once, and no other day's.
 */
describe('schedule: each business cut-off once, whatever the ticks (property)', () => {
  const config = testConfig({ calendar: { holidays: 'DE' }, schedule: { catchUp: false } });
  const calendar = makeCalendar(config.calendar);

  it('holds for random tick sequences over the spring and autumn changes', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('2026-03-20T12:00:00Z', '2026-10-18T12:00:00Z', '2026-12-20T12:00:00Z'),
      // steps forward of a second to 20 hours (under a day: no two cut-offs in one window), some back
      fc.array(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1000, max: 20 * HOUR }) }, { weight: 1, arbitrary: fc.integer({ min: -3 * HOUR, max: -1000 }) }), { minLength: 20, maxLength: 60 }),
      async (start, steps) => {
        const clock = manualClock(start);
        const sendJob = recordingSendJob();
        const send = makeJobRunner<SendOptions, SendResult>({ name: 'send', run: (o) => sendJob.run(o), log: silentLogger, clock });
        const receive = makeJobRunner<ReceiveOptions, ReceiveResult>({ name: 'receive', run: (o) => recordingReceiveJob().run(o), log: silentLogger, clock });
        const plan = makeSchedulePlan(calendar, config.schedule);
        const scheduler = makeScheduler({
          plan, schedule: config.schedule, clock, log: silentLogger, receive, sendRetryBaseMs: 60_000,
          sends: [{ code: config.bureau.code, plan, runner: send, batches: { unfinishedDates: async () => [], hasSentBatch: async () => true } }],
        });
        await scheduler.activate();
        let highest = clock().getTime();
        for (const step of steps) {
          clock.advance(step);
          highest = Math.max(highest, clock().getTime());
          scheduler.tick();
          await scheduler.settled();
        }
        const fired = sendJob.calls.map((c) => c.businessDate!);
        // every tick that reached a new furthest time covered the window up to it
        const expected = plan.sendSlotsBetween(new Date(start), new Date(highest)).filter((s) => !s.notBusiness).map((s) => s.date);
        assert.deepEqual(fired, expected);
      },
    ), { numRuns: 150 });
  });
});
