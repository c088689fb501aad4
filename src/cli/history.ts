import type { Command } from 'commander';
import { withApp } from '../app.js';
import { isValidDate } from '../calendar/index.js';
import { listRuns, type JobRun } from '../db/runs.js';
import { UsageError } from '../errors.js';
import { wholeNumber } from './options.js';
import { bureauOfSendJob, sendLeaseOf } from '../lease/job-lease.js';
import { bureausOf } from './options.js';
import { printJson, printTable, scrubbed } from './output.js';

export const order = 31;

interface HistoryFlags {
  job?: string;
  bureau?: string;
  since?: string;
  limit: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('history')
    .description('the latest runs of the send and receive jobs (daemon and by hand): trigger, times, outcome, counts, files, error')
    .option('--job <job>', "only send (every bureau's) or only receive")
    .option('--bureau <code>', "only this bureau's sends")
    .option('--since <date>', 'runs started on or after this date (YYYY-MM-DD) or time (ISO 8601), UTC unless the time gives an offset')
    .option('--limit <n>', 'at most n runs, latest first', '50')
    .option('--json', 'one JSON document instead of a table')
    .action(async (flags: HistoryFlags, cmd: Command) => {
      const filter = checkFlags(flags);
      await withApp(cmd.optsWithGlobals(), async ({ db, config }) => {
        // a bureau's sends are its lease's runs: `send` for the first bureau, `send:<CODE>` for the others
        const job = flags.bureau === undefined ? filter.job : sendLeaseOf(config.bureaus, bureausOf(config, flags.bureau)[0]!.code);
        const runs = scrubbed((await listRuns(db, { ...filter, job, exact: flags.bureau !== undefined })).map((r) => ({ ...r, bureau: bureauOfSendJob(config.bureaus, r.job) ?? null })));
        if (flags.json) printJson(runs);
        else printRuns(runs);
      }, { readOnly: true });
    });
}

function checkFlags(flags: HistoryFlags): { job?: string; since?: string; limit: number } {
  if (flags.job !== undefined && flags.job !== 'send' && flags.job !== 'receive') {
    throw new UsageError(`--job: send or receive, not ${JSON.stringify(flags.job)}`);
  }
  if (flags.bureau !== undefined && flags.job === 'receive') throw new UsageError('--bureau: a bureau\'s sends; not with --job receive');
  return { job: flags.job, since: flags.since === undefined ? undefined : sinceOf(flags.since), limit: wholeNumber(flags.limit, '--limit', { max: 10_000 }) };
}

/**
 * Stored times are UTC ISO text: a date or time compares as text once written the same way. A time
 * without an offset is UTC too, as a date is and as `history` prints them (JavaScript would read it in
 * the host's time zone: another host, or TZ, another answer).
 */
function sinceOf(text: string): string {
  if (isValidDate(text)) return `${text}T00:00:00.000Z`;
  const utc = /(Z|[+-]\d{2}:?\d{2})$/i.test(text) ? text : `${text}Z`;
  // JavaScript rolls an impossible day over (2026-02-31T10:00 is 3 March): its date must be one, as a date alone must
  const at = /^\d{4}-\d{2}-\d{2}T/.test(text) && isValidDate(text.slice(0, 10)) ? new Date(utc) : undefined;
  if (!at || Number.isNaN(at.getTime())) throw new UsageError(`--since: ${JSON.stringify(text)} is neither a date YYYY-MM-DD nor an ISO 8601 time`);
  return at.toISOString();
}

function printRuns(runs: Array<JobRun & { bureau: string | null }>): void {
  if (!runs.length) {
    process.stdout.write('No runs recorded yet.\n');
    return;
  }
  printTable(runs.map((r) => ({
    id: r.id, job: r.job, bureau: r.bureau ?? '', trigger: r.trigger, reason: r.reason, started: r.startedAt, finished: r.finishedAt ?? '', outcome: r.outcome,
    counts: countsOf(r), files: r.files.join(' '), runner: r.runner, error: r.error ?? '',
  })));
}

function countsOf(r: JobRun): string {
  if (r.job === 'send' || r.job.startsWith('send:')) return `${r.cardsSent} sent, ${r.invalid} Invalid`;
  return `${r.reportsApplied} applied, ${r.reportsQuarantined} quarantined`;
}
