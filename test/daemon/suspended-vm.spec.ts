import assert from 'node:assert/strict';
import { makeCalendar } from '../../src/calendar/index.js';
import { makeJobRunner } from '../../src/daemon/job-runner.js';
import { makeSchedulePlan } from '../../src/daemon/plan.js';
import { makeScheduler } from '../../src/daemon/scheduler.js';
import type { ReceiveOptions, ReceiveResult, SendOptions, SendResult } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';

/**
 * A VM suspended for days (or a process stopped with SIGSTOP) wakes up with one tick whose window
 * holds several cut-offs: like the catch-up at start, one send, for the latest business day's cut-off.
 */
describe('a tick after days of suspension', () => {
  function setup(start: string, sendAt = ['17:00']) {
    const config = testConfig({ calendar: { holidays: 'DE' }, schedule: { catchUp: false, sendAt } });
    const clock = manualClock(start);
    const sendJob = recordingSendJob();
    const send = makeJobRunner<SendOptions, SendResult>({ name: 'send', run: (o) => sendJob.run(o), log: silentLogger, clock });
    const receive = makeJobRunner<ReceiveOptions, ReceiveResult>({ name: 'receive', run: (o) => recordingReceiveJob().run(o), log: silentLogger, clock });
    const plan = makeSchedulePlan(makeCalendar(config.calendar), config.schedule);
    const scheduler = makeScheduler({
      plan, schedule: config.schedule, clock, log: silentLogger, receive, sendRetryBaseMs: 60_000,
      sends: [{ code: config.bureau.code, plan, runner: send, batches: { unfinishedDates: async () => [], hasSentBatch: async () => true } }],
    });
    return { clock, sendJob, scheduler };
  }

  it('sends once, for the latest cut-off the window passed on a business day', async () => {
    // suspended Tuesday 08:00 Berlin, resumed Friday 09:00: Tuesday's, Wednesday's and Thursday's cut-offs passed
    const { clock, sendJob, scheduler } = setup('2026-11-24T07:00:00Z');
    await scheduler.activate();
    clock.set('2026-11-27T08:00:00Z');
    scheduler.tick();
    await scheduler.settled();
    assert.deepEqual(sendJob.calls.map((c) => c.businessDate), ['2026-11-26']);
  });

  it('over a weekend and Christmas: the last business day before it', async () => {
    const { clock, sendJob, scheduler } = setup('2026-12-24T08:00:00Z', ['11:00', '17:00']);
    await scheduler.activate();
    clock.set('2026-12-28T08:00:00Z'); // Monday morning
    scheduler.tick();
    await scheduler.settled();
    assert.deepEqual(sendJob.calls.map((c) => [c.businessDate]), [['2026-12-24']]);
  });
});
