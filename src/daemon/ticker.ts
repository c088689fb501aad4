import cron from 'node-cron';
import type { Logger } from '../log.js';

export interface Ticker {
  stop(): void;
}

/**
 * Calls `tick` every 10 seconds (node-cron), logging through our logger. The scheduler looks at
 * the window since the previous tick, so the period only bounds how late a cut-off or retry fires.
 */
export function startTicker(tick: () => void, log: Logger, expression = '*/10 * * * * *'): Ticker {
  const cronLog = log.child({ component: 'node-cron' });
  const task = cron.schedule(expression, tick, {
    name: 'bureau-exchange-tick',
    noOverlap: true,
    logger: {
      info: (m) => cronLog.debug(String(m)),
      warn: (m) => cronLog.debug(String(m)),
      error: (m, e) => cronLog.error({ error: String(e ?? m) }, 'timer error'),
      debug: (m) => cronLog.trace(String(m)),
    },
  });
  return {
    stop() {
      void task.destroy();
    },
  };
}
