import type { Knex } from 'knex';
import { insertReturningId } from './connection.js';

export const RUN_TRIGGERS = ['schedule', 'catch-up', 'retry', 'manual'] as const;
export type RunTrigger = (typeof RUN_TRIGGERS)[number];

/** Stored outcomes; 'interrupted' is written only by closeInterruptedRuns. */
export const RUN_OUTCOMES = ['running', 'ok', 'partial', 'failed', 'skipped', 'interrupted'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** job_runs: one run of the send or receive job, from the daemon or the CLI. */
export interface JobRunRow {
  id: number;
  /** 'send' (the first bureau's send), 'send:<CODE>' (another bureau's) or 'receive' */
  job: string;
  trigger: RunTrigger;
  /** the runner's own words: "cut-off 16:00", "retry 2 of cut-off 16:00", "poll", "manual" */
  reason: string;
  /** who ran it: host:pid:random, as in leases */
  runner: string;
  /** the send's business date when one was given */
  business_date: string | null;
  started_at: string;
  /** null while running (or when the runner died) */
  finished_at: string | null;
  outcome: RunOutcome;
  duration_ms: number | null;
  cards_sent: number;
  /** cards set Invalid by this send */
  invalid: number;
  /** batch files (send) or reports (receive) this run handled */
  files: number;
  reports_applied: number;
  reports_quarantined: number;
  /** JSON array of those file or report names */
  file_names: string | null;
  /** scrubbed: PANs masked, secrets cut */
  error: string | null;
}

export interface RunStart {
  job: string;
  trigger: RunTrigger;
  reason: string;
  runner: string;
  businessDate?: string;
  startedAt: string;
}

export interface RunEnd {
  outcome: Exclude<RunOutcome, 'running' | 'interrupted'>;
  finishedAt: string;
  durationMs: number;
  cardsSent?: number;
  invalid?: number;
  reportsApplied?: number;
  reportsQuarantined?: number;
  fileNames?: string[];
  /** already scrubbed by the caller */
  error?: string;
}

/** Inserts a run as 'running'; returns its id. */
export async function startRun(db: Knex, run: RunStart): Promise<number> {
  return insertReturningId(db, 'job_runs', {
    job: run.job, trigger: run.trigger, reason: run.reason.slice(0, 100), runner: run.runner, business_date: run.businessDate ?? null,
    started_at: run.startedAt, outcome: 'running',
  });
}

/** Writes a run's end (also over 'interrupted': a run closed too early by another runner still ends as it did). */
export async function finishRun(db: Knex, id: number, end: RunEnd): Promise<void> {
  const names = end.fileNames ?? [];
  await db('job_runs').where({ id }).update({
    outcome: end.outcome, finished_at: end.finishedAt, duration_ms: end.durationMs, cards_sent: end.cardsSent ?? 0, invalid: end.invalid ?? 0,
    files: names.length, reports_applied: end.reportsApplied ?? 0, reports_quarantined: end.reportsQuarantined ?? 0,
    file_names: names.length ? JSON.stringify(names) : null, error: end.error ?? null,
  });
}

/** A run that never started (an overlap): one finished row. */
export async function recordSkippedRun(db: Knex, run: RunStart, why: string): Promise<void> {
  const id = await startRun(db, run);
  await finishRun(db, id, { outcome: 'skipped', finishedAt: run.startedAt, durationMs: 0, error: why });
}

/**
 * Marks 'interrupted' the runs of `job` still 'running' that started before `before` and are not
 * `except`. Called after a run of the job that held the job's lease ended: one runner at a time
 * holds that lease, so an older run still 'running' lost its process (kill -9, power cut).
 */
export async function closeInterruptedRuns(db: Knex, job: string, before: string, except: number, at: string): Promise<number> {
  return db('job_runs').where({ job, outcome: 'running' }).andWhere('started_at', '<', before).andWhereNot({ id: except })
    .update({ outcome: 'interrupted', finished_at: at, error: 'the runner stopped before the run ended (killed or crashed)' });
}

export interface RunFilter {
  /** `send` / `receive`: every bureau's (`send`, `send:<CODE>`), unless `exact`; any other name, that job only (`send:EMB01`) */
  job?: string;
  /** `job` names one job exactly: `send` is then the first bureau's sends alone (and the daemon's receives, `receive`) */
  exact?: boolean;
  /** ISO time or date: runs started at or after it */
  since?: string;
  limit?: number;
}

/** A run as shown: counts as numbers, file names as a list. */
export interface JobRun {
  id: number;
  job: string;
  trigger: RunTrigger;
  reason: string;
  runner: string;
  businessDate: string | null;
  startedAt: string;
  finishedAt: string | null;
  outcome: RunOutcome;
  durationMs: number | null;
  cardsSent: number;
  invalid: number;
  files: string[];
  reportsApplied: number;
  reportsQuarantined: number;
  error: string | null;
}

/** The latest runs first. */
export async function listRuns(db: Knex, filter: RunFilter = {}): Promise<JobRun[]> {
  const query = db('job_runs').orderBy('id', 'desc').limit(filter.limit ?? 50);
  const job = filter.job;
  if ((job === 'send' || job === 'receive') && !filter.exact) query.where((q) => q.where({ job }).orWhere('job', 'like', `${job}:%`));
  else if (job) query.where({ job });
  if (filter.since) query.where('started_at', '>=', filter.since);
  const rows: JobRunRow[] = await query;
  return rows.map(toJobRun);
}

/**
 * The latest run of each of `jobs` (by id, as listRuns orders), in one query: the status page asks for
 * every bureau's last send, and one query per bureau made a page of 500 bureaus wait for 500 round trips.
 */
export async function lastRunOfEachJob(db: Knex, jobs: readonly string[]): Promise<Map<string, JobRun>> {
  if (!jobs.length) return new Map();
  const rows: JobRunRow[] = await db('job_runs').whereIn('id', db('job_runs').whereIn('job', jobs).groupBy('job').max('id'));
  return new Map(rows.map((r) => [r.job, toJobRun(r)]));
}

/**
 * When each job's last run that succeeded (ok or partial) finished, from the history: the daemon's
 * last-success gauge after a restart or a failover, before its own next success.
 */
export async function lastSuccessOfEachJob(db: Knex): Promise<Array<{ job: string; finishedAt: string }>> {
  const rows: Array<{ job: string; finished_at: string | null }> = await db('job_runs').whereIn('outcome', ['ok', 'partial'])
    .groupBy('job').select('job').max({ finished_at: 'finished_at' });
  return rows.filter((r) => r.finished_at).map((r) => ({ job: r.job, finishedAt: r.finished_at! }));
}

function toJobRun(r: JobRunRow): JobRun {
  return {
    id: Number(r.id), job: r.job, trigger: r.trigger, reason: r.reason, runner: r.runner, businessDate: r.business_date,
    startedAt: r.started_at, finishedAt: r.finished_at, outcome: r.outcome, durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
    cardsSent: Number(r.cards_sent), invalid: Number(r.invalid), files: fileNames(r.file_names),
    reportsApplied: Number(r.reports_applied), reportsQuarantined: Number(r.reports_quarantined), error: r.error,
  };
}

/**
 * A run's file names as stored: a JSON list of names. A value that is none (a list cut short by a
 * column or an edit by hand, another JSON value) is shown as the text it is: one such row made
 * every read of the history throw, and the status page answer 500 from then on.
 */
function fileNames(stored: string | null): string[] {
  if (!stored) return [];
  try {
    const names: unknown = JSON.parse(stored);
    if (Array.isArray(names)) return names.map(String);
  } catch {
    // not JSON: the text itself below
  }
  return [stored];
}

/** runner_presence: a daemon and its role, as it last said (standbys hold no lease, so only this names them). */
export interface RunnerPresence {
  runner: string;
  role: string;
  startedAt: string;
  seenAt: string;
}

/** Writes this runner's role and the time it was seen (one row per runner). */
export async function noteRunner(db: Knex, runner: string, role: string, at: string): Promise<void> {
  const updated = await db('runner_presence').where({ runner }).update({ role, seen_at: at });
  if (updated === 0) await db('runner_presence').insert({ runner, role, started_at: at, seen_at: at });
}

/** A stopped runner leaves; one that died is left to age out (see presentRunners). */
export async function forgetRunner(db: Knex, runner: string): Promise<void> {
  await db('runner_presence').where({ runner }).delete();
}

/** Runners seen at or after `since`: the others stopped saying so (killed, or the host went away). */
export async function presentRunners(db: Knex, since: string): Promise<RunnerPresence[]> {
  const rows: Array<{ runner: string; role: string; started_at: string; seen_at: string }> = await db('runner_presence').where('seen_at', '>=', since).orderBy('runner');
  return rows.map((r) => ({ runner: r.runner, role: r.role, startedAt: r.started_at, seenAt: r.seen_at }));
}
