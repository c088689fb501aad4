import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';

export interface Ticker {
  stop(): void;
}

/**
 * Calls `tick` every `periodMs` (10 seconds). The scheduler looks at the window since the previous
 * tick, so the period only bounds how late a cut-off or retry fires. A plain interval, on the
 * monotonic clock, not a cron schedule on the wall clock: a wall clock stepped back (NTP, a VM's clock
 * corrected) made node-cron wait for its next slot to come round again, the daemon idle meanwhile.
 */
export function startTicker(tick: () => void, log: Logger, periodMs = 10_000): Ticker {
  const timer = setInterval(() => {
    try {
      tick();
    } catch (err) {
      // a throw out of a timer would end the process: log it, the next tick looks at the same window
      log.error({ error: messageOf(err) }, 'timer error');
    }
  }, periodMs);
  return {
    stop() {
      clearInterval(timer);
    },
  };
}
