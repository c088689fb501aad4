import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import { messageOf } from '../errors.js';
import type { Clock } from '../jobs.js';
import { registerSecret, scrub, type Logger } from '../log.js';

export type AlertKind = 'failure' | 'quarantine' | 'key-expiry' | 'low-stock' | 'lease-lost' | 'resolved';

/** The JSON document POSTed to the webhook. */
export interface Alert {
  kind: AlertKind;
  /** critical is logged at error level, warning at warn, info (a resolved outage) at info */
  severity: 'info' | 'warning' | 'critical';
  /** one line for a human (PAN-safe: scrubbed before sending) */
  message: string;
  /** machine-readable detail: job, file, product, key… */
  details?: Record<string, unknown>;
}

export interface Alerter {
  /**
   * Sends the alert unless the same `dedupeKey` was sent within `dedupeHours` (key expiry and low
   * stock would otherwise repeat at every check). Never throws: a failed delivery is logged.
   */
  send(alert: Alert, options?: { dedupeKey?: string; dedupeHours?: number }): Promise<boolean>;
}

export interface AlerterDeps {
  log: Logger;
  clock?: Clock;
  /** first retry delay; doubles per attempt (tests use a few ms) */
  retryBaseMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/**
 * How long a repeat of a deduplicated alert is held back: its window less a twenty-fourth. A daily
 * check's timer fires a day apart, but the alert's time is read on the wall clock after the check's
 * work (loading key files takes longer one day than the next; NTP slews the clock): a full day would
 * hold back every other day's alert.
 */
function quietPeriodMs(hours: number): number {
  return hours * 3_600_000 * (23 / 24);
}

/**
 * Where alerts go: the URL without its user and password, which fetch refuses (every alert failed,
 * and its error, logged, spelt the URL out, password included); they go as basic authentication.
 */
function webhookTarget(raw: string): { url: string; headers: Record<string, string> } {
  const url = new URL(raw);
  if (!url.username && !url.password) return { url: raw, headers: {} };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  if (url.password) registerSecret(decodeURIComponent(url.password));
  url.username = '';
  url.password = '';
  return { url: url.toString(), headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } };
}

/** Webhook alerts (JSON POST, retried with backoff); a no-op that only logs when no URL is configured. */
export function makeAlerter(config: Config['alerts'], deps: AlerterDeps): Alerter {
  const { log } = deps;
  const clock = deps.clock ?? (() => new Date());
  const doFetch = deps.fetch ?? fetch;
  const retryBaseMs = deps.retryBaseMs ?? 1000;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  /** each dedupe key's last alert and until when a repeat is held back (pruned once past: keys name reports) */
  const sentAt = new Map<string, { at: number; quietUntil: number }>();
  const source = hostname();
  const target = config.webhookUrl ? webhookTarget(config.webhookUrl) : undefined;

  async function deliver(body: string): Promise<void> {
    const response = await doFetch(target!.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...target!.headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      // a redirect is not a delivery: fetch would turn a 301/302/303 into a GET without the body
      // (the alert lost, yet counted as sent) and carry a 307/308 to wherever it points
      redirect: 'manual',
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
  }

  /** an error naming the URL (it may carry a token) names it no more */
  function withoutUrl(message: string): string {
    return [config.webhookUrl!, target!.url].reduce((m, url) => m.split(url).join('<alerts.webhookUrl>'), message);
  }

  return {
    async send(alert, options = {}) {
      const now = clock().getTime();
      if (options.dedupeKey) {
        const last = sentAt.get(options.dedupeKey);
        // a clock stepped back (now before the last alert) does not hold alerts back that much longer
        if (last !== undefined && now < last.quietUntil && now >= last.at) return false;
        for (const [key, { quietUntil }] of sentAt) if (quietUntil <= now) sentAt.delete(key);
        sentAt.set(options.dedupeKey, { at: now, quietUntil: now + quietPeriodMs(options.dedupeHours ?? 24) });
      }
      const document = { ...alert, message: scrub(alert.message), source, at: new Date(now).toISOString(), service: 'bureau-exchange' };
      const body = scrub(JSON.stringify(document));
      const logFn = alert.severity === 'critical' ? log.error.bind(log) : alert.severity === 'warning' ? log.warn.bind(log) : log.info.bind(log);
      logFn({ alert: alert.kind, details: alert.details }, `alert: ${alert.message}`);
      if (!target) return false;
      for (let attempt = 0; attempt <= config.retries; attempt++) {
        try {
          await deliver(body);
          return true;
        } catch (err) {
          const last = attempt === config.retries;
          log.warn({ alert: alert.kind, attempt: attempt + 1, error: withoutUrl(messageOf(err)) }, last ? 'alert webhook failed: giving up' : 'alert webhook failed: retrying');
          if (!last) await new Promise((r) => setTimeout(r, retryBaseMs * 2 ** attempt));
        }
      }
      return false;
    },
  };
}

/**
 * Failed runs grouped into outages, so that a bureau down for an hour raises one alert, not one per
 * poll: the first failure of a job alerts, later ones alert only for a new cause (another error),
 * and the job's next success ends the outage with one `resolved` alert.
 */
export interface OutageAlerts {
  /** a run of `job` failed with `error`; `alert` goes out unless this job's outage already had this cause */
  failed(job: string, error: unknown, alert: Alert): Promise<boolean>;
  /** a run of `job` succeeded: sends `resolved` (naming it as `what`, default the job) when an outage was open */
  succeeded(job: string, what?: string, details?: Record<string, unknown>): Promise<boolean>;
}

interface Outage {
  since: Date;
  failures: number;
  causes: Set<string>;
}

/**
 * The cause of a failure without what changes from one attempt to the next: numbers (ports, counts,
 * times) and hex runs holding a digit (the random name of a temporary file, an id), so that a fault
 * naming another temporary file at every poll is one cause.
 */
export function causeOf(error: unknown): string {
  const name = error instanceof Error ? error.name : 'Error';
  return `${name}: ${messageOf(error).replace(/[0-9a-f]*\d[0-9a-f]*/gi, '#').slice(0, 300)}`;
}

export function makeOutageAlerts(alerter: Alerter, clock: Clock = () => new Date()): OutageAlerts {
  const open = new Map<string, Outage>();
  return {
    async failed(job, error, alert) {
      let outage = open.get(job);
      if (!outage) open.set(job, (outage = { since: clock(), failures: 0, causes: new Set() }));
      outage.failures++;
      const cause = causeOf(error);
      if (outage.causes.has(cause)) return false;
      outage.causes.add(cause);
      return alerter.send(alert);
    },
    async succeeded(job, what = job, details = {}) {
      const outage = open.get(job);
      if (!outage) return false;
      open.delete(job);
      const since = outage.since.toISOString();
      return alerter.send({
        kind: 'resolved', severity: 'info',
        message: `${what} works again after ${outage.failures} failed run(s) since ${since}`,
        details: { job, ...details, since, failures: outage.failures, causes: [...outage.causes] },
      });
    },
  };
}
