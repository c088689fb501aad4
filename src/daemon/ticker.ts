import cron from 'node-cron';
import type { Logger } from '../log.js';

export interface Ticker {
  stop(): void;
}

/** Calls `tick` at the start of every minute (node-cron), logging through our logger. */
export function startMinuteTicker(tick: () => void, log: Logger): Ticker {
  const cronLog = log.child({ component: 'node-cron' });
  const task = cron.schedule('* * * * *', tick, {
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
