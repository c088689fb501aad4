import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { rowBureau } from '../db/bureau-scope.js';
import type { Db } from '../db/connection.js';
import { countByStatus } from '../db/contracts.js';
import { lastSuccessOfEachJob } from '../db/runs.js';
import { stockLevels } from '../db/stock.js';
import { batchCountsByBureau } from '../db/status-summary.js';
import { messageOf } from '../errors.js';
import type { ReceiveResult, SendResult } from '../jobs.js';
import type { Logger } from '../log.js';
import type { JobProgress, ProgressSnapshot } from '../progress/job-progress.js';
import { servedText } from '../web/served-text.js';
import type { RunRecord } from './job-runner.js';

/** One key's time left, as the key check found it. */
export interface KeyExpiry {
  /** what the key is for: bureau, archive… */
  purpose: string;
  fingerprint: string;
  /** null: never expires */
  daysToExpiry: number | null;
  /** the bureau whose config names the key */
  bureau?: string;
  /** the `pgp.expiryWarningDays` of the config that names the key: it is alerted on from then */
  warningDays?: number;
}

export interface DaemonMetrics {
  registry: Registry;
  /** a send run of the bureau `bureau` (its code: the `bureau` label) */
  recordSend(record: RunRecord<SendResult>, bureau: string): void;
  /** a receive run (of every bureau in turn): its outcome and duration */
  recordReceive(record: RunRecord<ReceiveResult>): void;
  /** the reports one bureau's receive took (its code: the `bureau` label) */
  recordReports(result: ReceiveResult, bureau: string): void;
  setLeaseHeld(held: boolean): void;
  setKeyExpiry(keys: KeyExpiry[]): void;
  /** Shows a running job's progress in the gauges until the returned function is called (its end). */
  watchProgress(progress: JobProgress, bureau?: string): () => void;
}

/** Outcome label of a run: success, partial (Invalid cards, quarantined reports), failure, aborted. */
export function outcomeOf(record: RunRecord<SendResult | ReceiveResult>): 'success' | 'partial' | 'failure' | 'aborted' {
  if (record.aborted) return 'aborted';
  if (record.error !== undefined) return 'failure';
  const r = record.result as Partial<SendResult & ReceiveResult> | undefined;
  return (r?.invalidTotal ?? r?.invalid?.length ?? 0) > 0 || (r?.quarantined?.length ?? 0) > 0 ? 'partial' : 'success';
}

/**
 * Prometheus metrics of one daemon, in a registry of its own (tests run several daemons in one
 * process). Stock and contract gauges are read from the database when scraped.
 */
export function makeMetrics(deps: { db: Db; log: Logger; defaultMetrics?: boolean; bureaus?: readonly string[] }): DaemonMetrics {
  const registry = new Registry();
  if (deps.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers });

  // the files' and reports' counters carry the bureau (its code)
  const cardsSent = counter('bx_cards_sent_total', 'cards delivered to the bureau in personalization files', ['bureau']);
  const filesSent = counter('bx_files_sent_total', 'personalization files delivered to the bureau', ['bureau']);
  const invalid = counter('bx_contracts_invalid_total', 'contracts set Invalid by our validation before sending', ['bureau']);
  const applied = counter('bx_reports_applied_total', 'bureau reports applied', ['bureau']);
  const quarantined = counter('bx_reports_quarantined_total', 'bureau reports quarantined', ['bureau']);
  const duplicates = counter('bx_reports_duplicate_total', 'bureau reports seen again (same content) and not applied twice', ['bureau']);
  const anomalies = counter('bx_report_anomalies_total', 'report records not applied (anomalies)', ['bureau']);
  // each bureau's series exists at 0 from the start: increase() does not count a series' first sample,
  // so a quarantine that created it would never fire `increase(bx_reports_quarantined_total[1h]) > 0`
  for (const bureau of deps.bureaus ?? []) for (const c of [cardsSent, filesSent, invalid, applied, quarantined, duplicates, anomalies]) c.inc({ bureau }, 0);
  const runs = new Counter({ name: 'bx_job_runs_total', help: 'job runs by outcome', labelNames: ['job', 'outcome', 'bureau'], registers });
  const duration = new Histogram({
    name: 'bx_job_duration_seconds', help: 'job run duration', labelNames: ['job', 'bureau'], registers,
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
  });
  // read from the run history at the first scrape: kept in memory only, the gauge was missing after a
  // restart or failover until the next success, so a send failing from then on never looked stale
  const successes = new Map<string, number>();
  let historyRead = false;
  const lastSuccess = new Gauge({
    name: 'bx_job_last_success_timestamp_seconds', help: 'end of the last successful run (unix time)', labelNames: ['job', 'bureau'], registers,
    async collect() {
      if (historyRead) return;
      const rows = await safely(() => lastSuccessOfEachJob(deps.db), undefined);
      if (!rows) return;
      historyRead = true;
      for (const row of rows) {
        const labels = successLabels(row.job, deps.bureaus ?? []);
        if (labels) succeeded(labels, Date.parse(row.finishedAt) / 1000);
      }
    },
  });
  /** the later of what the gauge shows and `at` */
  const succeeded = (labels: Record<string, string>, at: number) => {
    const key = JSON.stringify(labels);
    if (at <= (successes.get(key) ?? 0)) return;
    successes.set(key, at);
    lastSuccess.set(labels, at);
  };
  const leaseHeld = new Gauge({ name: 'bx_lease_held', help: '1 when this daemon is the active runner', registers });
  const keyDays = new Gauge({ name: 'bx_key_days_to_expiry', help: 'days until an OpenPGP key expires', labelNames: ['purpose', 'fingerprint', 'bureau'], registers });

  new Gauge({
    name: 'bx_plastic_stock_below_minimum', help: '1 when the bureau reported the product below its minimum stock', labelNames: ['product', 'bureau'], registers,
    async collect() {
      this.reset();
      // two bureaus may stock the same product: without the bureau one level would hide the other
      const first = deps.bureaus?.[0] ?? '';
      for (const row of await safely(() => stockLevels(deps.db), [])) this.set(stored({ product: row.product_code, bureau: rowBureau(row.bureau_code, first) }), row.low ? 1 : 0);
    },
  });
  // counting reads the whole table (no index holds the status: migrations/002), so once a minute at most
  const statusCounts = everyMinuteAtMost(() => safely(() => countByStatus(deps.db), {}));
  new Gauge({
    name: 'bx_contracts', help: 'card contracts by production status (counted once a minute at most)', labelNames: ['status'], registers,
    async collect() {
      const rows = await statusCounts();
      this.reset();
      for (const [status, n] of Object.entries(rows)) this.set(stored({ status }), n);
    },
  });

  new Gauge({
    name: 'bx_batches_unsent', help: "each bureau's batches not sent yet, by state (its next send resumes them)", labelNames: ['bureau', 'state'], registers,
    async collect() {
      const rows = await safely(() => batchCountsByBureau(deps.db, deps.bureaus ?? []), []);
      this.reset();
      for (const r of rows) for (const state of ['claimed', 'encrypted', 'uploaded'] as const) this.set(stored({ bureau: r.bureau, state }), r.batches[state]);
    },
  });

  // the running jobs' progress, read when scraped; a job that is not running has no series
  const running = new Map<JobProgress, { bureau?: string }>();
  const progressGauge = (name: string, help: string, value: (s: ProgressSnapshot) => number | null) => new Gauge({
    name, help, labelNames: ['job', 'step', 'unit', 'bureau'], registers,
    collect() {
      this.reset();
      for (const [progress, bureau] of running) {
        const s = progress.snapshot();
        const v = value(s);
        if (v !== null) this.set(stored({ job: jobKind(s.job), step: s.step, unit: s.unit, ...bureau }), v);
      }
    },
  });
  progressGauge('bx_job_progress_done', "the running job's units done in its current step (cards claimed, reports taken)", (s) => s.done);
  progressGauge('bx_job_progress_total', "the units the running job's current step expects, when known", (s) => s.total);
  progressGauge('bx_job_progress_bytes', "bytes the running job's current step has handled (reports downloaded)", (s) => s.bytes);

  async function safely<T>(query: () => Promise<T>, otherwise: T): Promise<T> {
    try {
      return await query();
    } catch (err) {
      deps.log.warn({ error: messageOf(err) }, 'metrics: database query failed');
      return otherwise;
    }
  }

  function recordRun(record: RunRecord<SendResult | ReceiveResult>, bureau?: string): void {
    const outcome = outcomeOf(record);
    const labels = { job: jobKind(record.job), ...(bureau ? { bureau } : {}) };
    runs.inc({ ...labels, outcome });
    duration.observe(labels, record.durationMs / 1000);
    if (outcome === 'success' || outcome === 'partial') succeeded(labels, record.finishedAt.getTime() / 1000);
  }

  return {
    registry,
    watchProgress(progress, bureau) {
      running.set(progress, bureau ? { bureau } : {});
      return () => running.delete(progress);
    },
    recordSend(record, bureau) {
      recordRun(record, bureau);
      if (!record.result) return;
      filesSent.inc({ bureau }, record.result.batches.filter((b) => b.state === 'sent').length);
      cardsSent.inc({ bureau }, record.result.cardsSent);
      invalid.inc({ bureau }, record.result.invalidTotal ?? record.result.invalid.length);
    },
    recordReceive(record) {
      recordRun(record);
    },
    recordReports(result, bureau) {
      applied.inc({ bureau }, result.applied.length);
      quarantined.inc({ bureau }, result.quarantined.length);
      duplicates.inc({ bureau }, result.duplicates);
      anomalies.inc({ bureau }, result.applied.reduce((sum, r) => sum + r.anomalies, 0));
    },
    setLeaseHeld: (held) => leaseHeld.set(held ? 1 : 0),
    setKeyExpiry(keys) {
      keyDays.reset();
      for (const k of keys) if (k.daysToExpiry !== null) keyDays.set(stored({ purpose: k.purpose, fingerprint: k.fingerprint, ...(k.bureau ? { bureau: k.bureau } : {}) }), k.daysToExpiry);
    },
  };
}

/** The `job` label: `send` for every bureau's send (`send:<CODE>` is the bureau's lease; the bureau is its own label). */
function jobKind(job: string): string {
  return job.startsWith('send:') ? 'send' : job;
}

/**
 * Label values read from rows or files (a product or bureau code an older version stored, a status, a
 * key's fingerprint, a step's words) as served text: prom-client escapes only the quote, the
 * backslash and the line break, so a PAN-like product code, a C1 CSI or a bidi override went into
 * the exposition, the scrape, Grafana's legends and `curl`'s terminal as stored.
 */
function stored<T extends Record<string, string>>(labels: T): T {
  return Object.fromEntries(Object.entries(labels).map(([name, value]) => [name, servedText(value)])) as T;
}

/** A run history job's labels as recordRun gives them: `send` / `send:<CODE>` with its bureau, `receive`; undefined for a bureau no longer configured. */
function successLabels(job: string, bureaus: readonly string[]): Record<string, string> | undefined {
  if (!job.startsWith('send')) return { job };
  const bureau = job === 'send' ? bureaus[0] : job.slice('send:'.length);
  return bureau !== undefined && bureaus.includes(bureau) ? { job: 'send', bureau } : undefined;
}

/** `compute`, again only when its last result is a minute old. */
function everyMinuteAtMost<T>(compute: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (!last || performance.now() - last.at > 60_000) last = { at: performance.now(), value: compute() };
    return last.value;
  };
}
