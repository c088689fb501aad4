import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { makeAlerter } from '../../src/daemon/alerts.js';
import type { DaemonMetrics, KeyExpiry } from '../../src/daemon/metrics.js';
import { makeWatchers } from '../../src/daemon/watchers.js';
import type { Db } from '../../src/db/connection.js';
import { createLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { manualClock } from './fakes.js';

const DAY = 86_400_000;

/**
 * The daily key check: its timer fires a day apart, but the alert's time is read after the key files
 * are loaded, which takes longer one day than the next (and NTP may slew the wall clock a little).
 */
describe('key expiry: one alert per daily check', () => {
  it('each daily check alerts, whatever the key loading took', async () => {
    const clock = manualClock('2026-12-01T06:00:00Z');
    const alerts: string[] = [];
    const log = createLogger({ destination: new Writable({ write: (c, _e, done) => { const l = JSON.parse(c.toString()); if (l.alert) alerts.push(l.msg); done(); } }) });
    const alerter = makeAlerter({ retries: 0 }, { log, clock });
    const loadMs = [400, 50, 300, 20];
    const keyExpiries = async (): Promise<KeyExpiry[]> => {
      clock.advance(loadMs.shift() ?? 0);
      return [{ purpose: 'bureau', fingerprint: 'AB'.repeat(20), daysToExpiry: 20 - alerts.length, warningDays: 30 }];
    };
    const metrics = { setKeyExpiry() {} } as unknown as DaemonMetrics;
    const watchers = makeWatchers({ db: undefined as unknown as Db, config: testConfig(), alerter, metrics, clock, log, keyExpiries });
    const start = clock().getTime();
    for (let day = 0; day < 4; day++) {
      clock.set(new Date(start + day * DAY).toISOString()); // the timer: a day after the previous check began
      await watchers.checkKeys();
    }
    assert.equal(alerts.length, 4, alerts.join('\n'));
    // a check again the same day (the daemon became active again) does not repeat it
    clock.advance(3_600_000);
    await watchers.checkKeys();
    assert.equal(alerts.length, 4);
  });

  it('runs once at start, then daily at 08:00 in schedule.timezone (node-cron), DST included', async () => {
    let checks = 0;
    const log = createLogger({ destination: new Writable({ write: (_c, _e, done) => done() }) });
    const clock = manualClock('2026-12-01T06:00:00Z');
    const metrics = { setKeyExpiry() {} } as unknown as DaemonMetrics;
    const base = testConfig();
    for (const timezone of ['Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
      const config = { ...base, schedule: { ...base.schedule, timezone } };
      const watchers = makeWatchers({ db: undefined as unknown as Db, config, alerter: makeAlerter({ retries: 0 }, { log, clock }), metrics, clock, log, keyExpiries: async () => { checks++; return []; } });
      assert.equal(watchers.nextKeyCheck(), null);
      watchers.start();
      try {
        const next = watchers.nextKeyCheck()!;
        const local = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
        assert.equal(local, '08:00', `${timezone}: ${next.toISOString()}`);
        assert.ok(next.getTime() > Date.now() && next.getTime() <= Date.now() + DAY, next.toISOString());
      } finally {
        watchers.stop();
      }
      assert.equal(watchers.nextKeyCheck(), null);
    }
    assert.equal(checks, 3, 'one check at each start');
  });
});

