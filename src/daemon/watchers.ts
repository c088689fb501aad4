import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config/schema.js';
import { rowBureau } from '../db/bureau-scope.js';
import type { Db } from '../db/connection.js';
import { lowStockLevels } from '../db/stock.js';
import { TransientError, messageOf } from '../errors.js';
import { bureauOfSendJob } from '../lease/job-lease.js';
import type { Clock, ReceiveResult } from '../jobs.js';
import type { Logger } from '../log.js';
import { makeOutageAlerts, type Alerter } from './alerts.js';
import type { RunRecord } from './job-runner.js';
import type { DaemonMetrics, KeyExpiry } from './metrics.js';

/**
 * The daily key check, in schedule.timezone (node-cron): at the start of the business morning, when
 * someone reads the alert, whenever the daemon was started, and at that local time across DST.
 */
const KEY_CHECK_CRON = '0 8 * * *';

export interface Watchers {
  /** starts the daily key check (and runs one now) */
  start(): void;
  /** when the next daily key check runs (null when not started) */
  nextKeyCheck(): Date | null;
  stop(): void;
  /** a failure alert, once per outage of the job and cause */
  jobFailed(record: RunRecord<unknown>): Promise<void>;
  /** ends the job's outage, if any, with a `resolved` alert */
  jobSucceeded(record: RunRecord<unknown>): Promise<void>;
  /** alerts for quarantined reports and for stock the bureau reported below its minimum */
  /** a bureau's receive ended (its code): an alert per quarantined report, and the low-stock check after stock reports */
  reportsReceived(result: ReceiveResult, bureau: string): Promise<void>;
  /** one key check: metrics, and an alert per key expiring within its bureau's pgp.expiryWarningDays */
  checkKeys(): Promise<void>;
}

/** Turns runs and periodic checks into alerts (webhook) and gauges. */
export function makeWatchers(deps: {
  db: Db;
  config: Config;
  alerter: Alerter;
  metrics: DaemonMetrics;
  clock: Clock;
  log: Logger;
  keyExpiries?: (now: Date) => Promise<KeyExpiry[]>;
}): Watchers {
  const { alerter, config } = deps;
  const outages = makeOutageAlerts(alerter, deps.clock);
  const several = config.bureaus.length > 1;

  /** A send run names its bureau (code and name) in alerts; the job name alone says `send` for the first bureau. */
  function bureauOf(job: string): { forBureau: string; details: Record<string, unknown> } {
    const code = bureauOfSendJob(config.bureaus, job);
    if (!config.bureaus.some((b) => b.code === code)) return { forBureau: '', details: {} };
    return { forBureau: ` for bureau ${named(code!)}`, details: { bureau: code } };
  }

  /** A bureau as alerts name it: its code, and its name when it has one of its own. */
  function named(code: string): string {
    const bureau = config.bureaus.find((b) => b.code === code);
    return !bureau || bureau.name === bureau.code ? code : `${bureau.code} (${bureau.name})`;
  }
  let keyCheck: ScheduledTask | undefined;

  async function checkKeys(): Promise<void> {
    if (!deps.keyExpiries) return;
    let keys: KeyExpiry[];
    try {
      keys = await deps.keyExpiries(deps.clock());
    } catch (err) {
      await alerter.send({ kind: 'key-expiry', severity: 'critical', message: `OpenPGP key check failed: ${messageOf(err)}` }, { dedupeKey: `key-check:${messageOf(err)}` });
      return;
    }
    deps.metrics.setKeyExpiry(keys);
    for (const k of keys) {
      if (k.daysToExpiry === null || k.daysToExpiry > (k.warningDays ?? config.pgp.expiryWarningDays)) continue;
      await alerter.send({
        kind: 'key-expiry', severity: k.daysToExpiry <= 7 ? 'critical' : 'warning',
        message: `the ${k.purpose} OpenPGP key ${k.fingerprint}${k.bureau && several ? ` (bureau ${k.bureau})` : ''} expires in ${k.daysToExpiry} days`,
        details: { purpose: k.purpose, fingerprint: k.fingerprint, daysToExpiry: k.daysToExpiry, ...(k.bureau ? { bureau: k.bureau } : {}) },
      }, { dedupeKey: `key:${k.fingerprint}` });
    }
  }

  async function lowStockAlerts(): Promise<void> {
    for (const row of await lowStockLevels(deps.db)) {
      const bureau = rowBureau(row.bureau_code, config.bureaus[0]!.code);
      await alerter.send({
        kind: 'low-stock', severity: 'warning',
        message: `plastic stock of ${row.product_code}${several ? ` at bureau ${bureau}` : ''} is ${row.closing}, below the minimum ${row.min_stock}`,
        details: { product: row.product_code, bureau, closing: Number(row.closing), minimum: Number(row.min_stock) },
      }, { dedupeKey: `stock:${bureau}:${row.product_code}:${row.report_id}` });
    }
  }

  return {
    checkKeys,
    start() {
      if (keyCheck) return;
      void checkKeys();
      keyCheck = cron.schedule(KEY_CHECK_CRON, () => checkKeys(), {
        name: 'key-check', timezone: config.schedule.timezone, noOverlap: true, unref: true, logger: cronLogger(deps.log),
      });
    },
    nextKeyCheck: () => keyCheck?.getNextRun() ?? null,
    stop() {
      void keyCheck?.destroy();
      keyCheck = undefined;
    },
    async jobFailed(record) {
      // once per outage and cause: the daemon retries, and a bureau down for hours is one alert
      const { forBureau, details } = bureauOf(record.job);
      const kind = record.job.split(':')[0];
      await outages.failed(record.job, record.error, {
        kind: 'failure', severity: 'critical',
        message: `${kind} run (${record.reason})${forBureau} failed: ${messageOf(record.error)}`,
        details: { job: record.job, ...details, reason: record.reason, startedAt: record.startedAt.toISOString() },
      });
    },
    async jobSucceeded(record) {
      const { forBureau, details } = bureauOf(record.job);
      await outages.succeeded(record.job, `${record.job.split(':')[0]}${forBureau}`, details);
    },
    async reportsReceived(result, bureau) {
      // with several bureaus the alert says whose report it is (the first bureau's alone, as before)
      const whose = several ? ` from bureau ${named(bureau)}` : '';
      for (const q of result.quarantined) {
        await alerter.send({
          kind: 'quarantine', severity: 'critical',
          message: `report ${q.remoteName}${whose} quarantined: ${q.reason}`,
          details: { remoteName: q.remoteName, reason: q.reason, ...(several ? { bureau } : {}) },
        });
      }
      if (result.applied.some((r) => r.stockItems > 0)) {
        await lowStockAlerts().catch((err) => deps.log.warn({ error: messageOf(err) }, 'low-stock check failed'));
      }
    },
  };
}

/** node-cron's own messages (a missed run after the machine slept) through our logger, not the console. */
function cronLogger(log: Logger): NonNullable<Parameters<typeof cron.schedule>[2]>['logger'] {
  const cronLog = log.child({ component: 'node-cron' });
  return {
    info: (m) => cronLog.debug(String(m)),
    warn: (m) => cronLog.info(String(m)),
    error: (m, e) => cronLog.error({ error: String(e ?? m) }, 'key check timer error'),
    debug: (m) => cronLog.trace(String(m)),
  };
}
