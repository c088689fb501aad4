import assert from 'node:assert/strict';
import { makeCalendar } from '../../src/calendar/index.js';
import { makeJobRunner } from '../../src/daemon/job-runner.js';
import { makeSchedulePlan } from '../../src/daemon/plan.js';
import { makeScheduler } from '../../src/daemon/scheduler.js';
import { TransientError } from '../../src/errors.js';
import type { ReceiveOptions, ReceiveResult, SendOptions, SendResult } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';

const MINUTE = 60_000;

describe('send retries across cut-offs', () => {
  it("a retry after the next cut-off failed too is of that cut-off's business date, not of the first failure's", async () => {
    const config = testConfig({ calendar: { holidays: 'DE' }, schedule: { catchUp: false } });
    const clock = manualClock('2026-11-26T15:59:00Z'); // Thursday, before the 17:00 Berlin cut-off
    const sendJob = recordingSendJob();
    const send = makeJobRunner<SendOptions, SendResult>({ name: 'send', run: (o) => sendJob.run(o), log: silentLogger, clock });
    const receive = makeJobRunner<ReceiveOptions, ReceiveResult>({ name: 'receive', run: (o) => recordingReceiveJob().run(o), log: silentLogger, clock });
    const plan = makeSchedulePlan(makeCalendar(config.calendar), config.schedule);
    const scheduler = makeScheduler({
      plan, schedule: config.schedule, clock, log: silentLogger, receive, sendRetryBaseMs: MINUTE,
      sends: [{ code: config.bureau.code, plan, runner: send, batches: { unfinishedDates: async () => [], hasSentBatch: async () => true } }],
    });
    await scheduler.activate();
    sendJob.fail = new TransientError('connection refused');
    // the bureau's server is down from Thursday's cut-off to after Friday's
    while (clock().getTime() < Date.parse('2026-11-27T16:10:00Z')) {
      clock.advance(MINUTE);
      scheduler.tick();
      await scheduler.settled();
    }
    sendJob.fail = undefined;
    while (clock().getTime() < Date.parse('2026-11-27T17:00:00Z')) {
      clock.advance(MINUTE);
      scheduler.tick();
      await scheduler.settled();
    }
    const last = sendJob.calls.at(-1)!;
    assert.equal(last.businessDate, '2026-11-27', `the succeeding retry: ${JSON.stringify(sendJob.calls.map((c) => c.businessDate))}`);
  });
});
