import type { Config } from '../config/schema.js';
import type { Clock, ReceiveOptions, ReceiveResult } from '../jobs.js';
import type { Logger } from '../log.js';
import type { JobRunner } from './job-runner.js';
import type { SchedulePlan } from './plan.js';
import { makeSendLane, type SendLaneDeps } from './send-lane.js';

export type { BatchProgress, SendLaneDeps } from './send-lane.js';

export interface SchedulerDeps {
  /** the receive polls (every schedule.receiveEveryMinutes) */
  plan: SchedulePlan;
  schedule: Config['schedule'];
  clock: Clock;
  log: Logger;
  /** one per bureau, in config order: each with its own cut-offs, runner (lease) and batches */
  sends: SendLaneDeps[];
  receive: JobRunner<ReceiveOptions, ReceiveResult>;
  /** first delay before a failed send is tried again; doubles per failure up to 30 min */
  sendRetryBaseMs: number;
}

/**
 * Decides when the jobs run while this daemon is the active runner. `tick()` is called every
 * 10 seconds (ticker.ts) and looks at the whole window since the previous tick, so a delayed tick
 * still fires the cut-off it passed. Each bureau's send runs at that bureau's cut-offs in a lane of
 * its own (send-lane.ts: waiting, retries, catch-up), so one bureau's slow upload or outage never
 * holds another's; a receive poll due during a receive is skipped.
 */
export interface Scheduler {
  /** becomes active: resumes unfinished batches, catches up a missed cut-off (per bureau), then ticks count */
  activate(): Promise<void>;
  /** fires what is due since the previous tick */
  tick(): void;
  /** no new runs; aborts the running ones at their next safe point and waits for them */
  deactivate(reason: string): Promise<void>;
  /** the send and receive runs started so far and not finished (for tests and shutdown) */
  settled(): Promise<void>;
}

export function makeScheduler(deps: SchedulerDeps): Scheduler {
  const { plan, clock, receive } = deps;
  let active = false;
  /** counts deactivations: an activation that a stop overtook while it read the batches must not start runs */
  let generation = 0;
  let lastTick = clock();
  /** send cut-offs were fired up to this instant: a clock stepped back does not fire them again */
  let firedThrough = lastTick;
  const running = new Set<Promise<unknown>>();

  function track(promise: Promise<unknown>): void {
    running.add(promise);
    void promise.finally(() => running.delete(promise));
  }

  const lanes = deps.sends.map((send) => makeSendLane(send, {
    schedule: deps.schedule, clock, log: deps.log, sendRetryBaseMs: deps.sendRetryBaseMs, active: () => active, track,
  }));

  function requestReceive(reason: string): void {
    if (!active) return;
    track(receive.trigger(reason));
  }

  return {
    async activate() {
      const now = clock();
      const started = generation;
      // ticks meanwhile leave lastTick here: the first tick once active covers a cut-off passed during the reading
      lastTick = now;
      if (now > firedThrough) firedThrough = now;
      const startups = await Promise.all(lanes.map((lane) => lane.startupRequest(now)));
      if (generation !== started) throw new Error('stopped while becoming the active runner: nothing scheduled');
      active = true;
      lanes.forEach((lane, i) => {
        const startup = startups[i];
        if (startup) lane.request(startup);
      });
      requestReceive('start');
    },

    tick() {
      if (!active) return;
      const now = clock();
      const from = lastTick;
      if (now.getTime() === from.getTime()) return;
      lastTick = now;
      if (now < from) {
        // waiting for the clock to come back to `from` would stop the polls and retries that long:
        // count from now on, but a cut-off fired once is not fired again when its time comes round
        deps.log.warn({ from: from.toISOString(), now: now.toISOString() }, 'the clock went back: scheduling goes on from now; cut-offs already fired are not fired again');
        return;
      }
      const sendFrom = from < firedThrough ? firedThrough : from;
      if (now > firedThrough) firedThrough = now;
      for (const lane of lanes) lane.tick(sendFrom, now);
      if (plan.receiveDueBetween(from, now)) requestReceive('poll');
    },

    async deactivate(reason) {
      active = false;
      generation++;
      for (const lane of lanes) {
        lane.reset();
        lane.runner.abort(reason);
      }
      receive.abort(reason);
      await Promise.all([...lanes.map((lane) => lane.runner.idle()), receive.idle()]);
    },

    async settled() {
      while (running.size) await Promise.all([...running]);
    },
  };
}
