import assert from 'node:assert/strict';
import { startTicker } from '../../src/daemon/ticker.js';
import { TransientError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/wait.js';
import { MINUTE, oneBureauScheduler } from './scheduler-harness.js';

const HOUR = 60 * MINUTE;

/**
 * Moves this process's wall clock (Date) by `offsetMs` while `fn` runs, as an NTP step or a VM
 * whose clock is corrected does; timers (the monotonic clock) go on as before.
 */
async function withWallClockShift<T>(shift: { offsetMs: number }, fn: () => Promise<T>): Promise<T> {
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + shift.offsetMs);
      else super(...(args as [number]));
    }
    static override now() {
      return RealDate.now() + shift.offsetMs;
    }
  }
  globalThis.Date = ShiftedDate as DateConstructor;
  try {
    return await fn();
  } finally {
    globalThis.Date = RealDate;
  }
}

describe('the wall clock stepped back (NTP step, a corrected VM clock)', () => {
  it('the ticker goes on ticking at its period', async function () {
    this.timeout(60_000);
    const shift = { offsetMs: 0 };
    await withWallClockShift(shift, async () => {
      let ticks = 0;
      const ticker = startTicker(() => void ticks++, silentLogger, 200);
      try {
        await waitFor('two ticks', () => ticks >= 2);
        shift.offsetMs = -HOUR;
        const before = ticks;
        // a ticker on the wall clock waits for the hour to come again
        await waitFor('three ticks after the step', () => ticks >= before + 3, 15_000);
      } finally {
        ticker.stop();
      }
    });
  });

  // catch-up off, nothing to resume; `minutes` ticks once a minute of the (stepped) clock
  const setup = (start: string) => oneBureauScheduler({ start });

  it('receive polls go on at once, and no cut-off fires a second time', async () => {
    // Friday 27 November 2026, 17:30 Berlin: the 17:00 cut-off has fired
    const { clock, sendJob, receiveJob, scheduler, minutes } = setup('2026-11-27T15:55:00Z');
    await scheduler.activate();
    await minutes(40);
    assert.equal(sendJob.calls.length, 1, 'the cut-off fired');
    const polls = receiveJob.calls.length;
    clock.advance(-3 * HOUR); // 14:35 Berlin again
    await minutes(120); // up to 16:35 Berlin: still before the cut-off's second coming
    assert.ok(receiveJob.calls.length >= polls + 7, `polled ${receiveJob.calls.length - polls} times in two hours after the step`);
    await minutes(60); // past 17:00 Berlin again
    assert.equal(sendJob.calls.length, 1, 'the cut-off already fired: not twice');
  });

  it('a planned send retry is not put off by the step', async () => {
    const { clock, sendJob, scheduler, minutes } = setup('2026-11-27T15:59:00Z');
    await scheduler.activate();
    sendJob.fail = new TransientError('connection refused');
    await minutes(1); // the cut-off fails; retry planned a minute later
    assert.equal(sendJob.calls.length, 1);
    sendJob.fail = undefined;
    clock.advance(-6 * HOUR);
    await minutes(5);
    assert.equal(sendJob.calls.length, 2, 'retried within its delay, not six hours later');
  });
});
