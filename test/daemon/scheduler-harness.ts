import { makeCalendar } from '../../src/calendar/index.js';
import { makeJobRunner } from '../../src/daemon/job-runner.js';
import { makeSchedulePlan } from '../../src/daemon/plan.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { makeScheduler, type BatchProgress, type Scheduler } from '../../src/daemon/scheduler.js';
import type { ReceiveOptions, ReceiveResult, SendOptions, SendResult } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { waitFor } from '../helpers/wait.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';

export const MINUTE = 60_000;

/** Nothing unfinished and the last cut-off served: activation neither resumes nor catches up. */
export const noBatchesToResume: BatchProgress = { unfinishedDates: async () => [], hasSentBatch: async () => true };

export interface OneBureauSchedulerOptions {
  /** the manual clock's first instant */
  start: string;
  /** over the test config's schedule, catch-up off */
  schedule?: Record<string, unknown>;
  /** over the test config's calendar, German holidays */
  calendar?: Record<string, unknown>;
  /** what activation reads of the bureau's batches (default: nothing to resume, nothing to catch up) */
  batches?: BatchProgress;
}

/**
 * The scheduler of the test config's one bureau on a manual clock, the real job runners around
 * recording send and receive jobs: what the scheduler asks for, and when, is in `sendJob.calls` and
 * `receiveJob.calls`.
 */
export function oneBureauScheduler({ start, schedule = {}, calendar = {}, batches = noBatchesToResume }: OneBureauSchedulerOptions) {
  const config = testConfig({ calendar: { holidays: 'DE', ...calendar }, schedule: { catchUp: false, ...schedule } });
  const clock = manualClock(start);
  const sendJob = recordingSendJob();
  const receiveJob = recordingReceiveJob();
  const send = makeJobRunner<SendOptions, SendResult>({ name: 'send', run: (o) => sendJob.run(o), log: silentLogger, clock });
  const receive = makeJobRunner<ReceiveOptions, ReceiveResult>({ name: 'receive', run: (o) => receiveJob.run(o), log: silentLogger, clock });
  const plan = makeSchedulePlan(makeCalendar(config.calendar), config.schedule);
  const scheduler = makeScheduler({
    plan, schedule: config.schedule, clock, log: silentLogger, receive, sendRetryBaseMs: MINUTE,
    sends: [{ code: config.bureau.code, plan, runner: send, batches }],
  });
  return {
    clock, plan, sendJob, receiveJob, scheduler,
    /** moves the clock by `ms`, ticks once and lets the runs finish */
    tickAfter: (ms: number) => tickAfter(clock, scheduler, ms),
    /** ticks once a minute up to the instant, letting each tick's runs finish */
    runUntil: (iso: string) => tickEachMinuteUntil(clock, scheduler, iso),
    /** ticks once a minute for `count` minutes of the clock, letting each tick's runs finish */
    minutes: async (count: number) => {
      for (let i = 0; i < count; i++) await tickAfter(clock, scheduler, MINUTE);
    },
    /** sets the clock to the instant, ticks once and lets the runs finish */
    tickAt: (iso: string) => {
      clock.set(iso);
      scheduler.tick();
      return scheduler.settled();
    },
  };
}

type ManualClock = ReturnType<typeof manualClock>;

/** Moves the clock by `ms`, ticks once and lets the runs finish. */
export async function tickAfter(clock: ManualClock, scheduler: Scheduler, ms: number): Promise<void> {
  clock.advance(ms);
  scheduler.tick();
  await scheduler.settled();
}

/** Ticks once a minute up to the instant (not past it), letting each tick's runs finish. */
export async function tickEachMinuteUntil(clock: ManualClock, scheduler: Scheduler, iso: string): Promise<void> {
  const end = new Date(iso).getTime();
  while (clock().getTime() + MINUTE <= end) await tickAfter(clock, scheduler, MINUTE);
}

/** Starts the daemon and waits until it is the active runner and the runs its activation started are over. */
export async function startActive(daemon: Daemon): Promise<void> {
  daemon.start();
  await waitFor('the daemon active', () => daemon.status().role === 'active');
  await daemon.scheduler.settled();
}
