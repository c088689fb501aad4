import type { Command } from 'commander';
import { openApp, type App } from '../app.js';
import { isValidDate } from '../calendar/index.js';
import { REQUIRED_KEYS, requireKeys } from '../config/load.js';
import { makeAlerter } from '../daemon/alerts.js';
import { makeMetrics } from '../daemon/metrics.js';
import { exitCodeOf, settle, type RunOnceOutcome } from '../daemon/outcome.js';
import { makeWatchers } from '../daemon/watchers.js';
import { migrateLatest } from '../db/migrate.js';
import { UsageError, messageOf } from '../errors.js';
import type { SendOptions, SendResult } from '../jobs.js';
import { scrub } from '../log.js';
import { mergeResults, type BureauSendJob } from '../outbound/every-bureau.js';
import { withProgressShown } from '../progress/show.js';
import { abortOnSignals } from '../signals.js';
import { everyBureauReceive } from '../inbound/receive-bureau.js';
import { makeProductionJobs } from '../wiring.js';
import { receiveRunCounts, sendRunCounts } from '../daemon/run-history.js';
import { bureauView, jobNameFor } from '../config/bureau-view.js';
import { bureausOf } from './options.js';
import { runManually } from './manual-run.js';
import { printJson, printTable } from './output.js';

export const order = 21;

interface RunOnceFlags {
  bureau?: string;
  sendOnly?: boolean;
  receiveOnly?: boolean;
  businessDate?: string;
  force?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('run-once')
    .description('one send (finishing unfinished batches first) and one receive, then exit: 0 all good, 1 a job failed, 3 partial (Invalid cards, quarantined report)')
    .option('--send-only', 'only the send job')
    .option('--receive-only', 'only the receive job')
    .option('--bureau <code>', 'send to and receive from this bureau only (default: every configured bureau in turn)')
    .option('--business-date <date>', 'YYYY-MM-DD of the files sent (default: today in schedule.timezone)')
    .option('--force', 'send even when the date is not a business day')
    .option('--json', 'print the outcome as JSON')
    .action(async (flags: RunOnceFlags, cmd: Command) => {
      checkFlags(flags);
      const app = await openApp(cmd.optsWithGlobals(), { migrate: false });
      try {
        const outcome = await runOnce(app, flags);
        if (flags.json) printJson(outcome);
        else printOutcome(outcome);
        process.exitCode = exitCodeOf(outcome);
      } finally {
        await app.close();
      }
    });
}

function checkFlags(flags: RunOnceFlags): void {
  if (flags.sendOnly && flags.receiveOnly) throw new UsageError('--send-only and --receive-only exclude each other');
  if (flags.businessDate !== undefined && !isValidDate(flags.businessDate)) {
    throw new UsageError(`--business-date: ${JSON.stringify(flags.businessDate)} is not a date YYYY-MM-DD`);
  }
  if (flags.receiveOnly && (flags.businessDate || flags.force)) throw new UsageError('--business-date and --force apply to sending: not with --receive-only');
}

async function runOnce(app: App, flags: RunOnceFlags): Promise<RunOnceOutcome> {
  const { config, db, log } = app;
  if (flags.bureau !== undefined) bureausOf(config, flags.bureau);
  const send = !flags.receiveOnly;
  const receive = !flags.sendOnly;
  requireKeys(config, [...REQUIRED_KEYS.sftp, ...(send ? REQUIRED_KEYS.encrypt : [])], 'run-once');
  if (config.database.migrateOnStart) await migrateLatest(db);

  const stop = abortOnSignals((signal) => log.warn({ signal }, 'stopping at the next safe point (again to exit now)'));
  const alerter = makeAlerter(config.alerts, { log });
  const watchers = makeWatchers({ db, config, alerter, metrics: makeMetrics({ db, log, defaultMetrics: false }), clock: () => new Date(), log });
  const jobs = makeProductionJobs(app, { signal: stop.signal }, flags.bureau);
  const outcome: RunOnceOutcome = {};
  try {
    if (send) {
      outcome.send = await sendEachBureau(app, jobs.sendPerBureau, { businessDate: flags.businessDate, force: flags.force, signal: stop.signal });
      if (outcome.send.error !== undefined) await alertFailure('send', outcome.send.error);
    }
    if (receive && !stop.signal.aborted) {
      // each bureau's quarantined reports are alerted as its turn ends, whatever a later bureau's receive does
      // one run over every bureau, recorded as `receive` like the daemon's (run-once --bureau: that bureau's name)
      const receiveJob = everyBureauReceive(jobs.receivePerBureau, (result, bureau) => watchers.reportsReceived(result, bureau));
      const name = flags.bureau === undefined ? 'receive' : jobNameFor(bureauView(config, flags.bureau), 'receive');
      const settled = await settle(() => withProgressShown(name, log, (progress) => runManually(app, name, (o) => receiveJob.run(o), { signal: stop.signal, progress }, receiveRunCounts)));
      outcome.receive = settled.error === undefined ? settled : { ...settled, error: scrub(settled.error) };
      if (outcome.receive.error !== undefined) await alertFailure('receive', outcome.receive.error);
    }
  } finally {
    stop.dispose();
  }
  return outcome;

  async function alertFailure(job: string, error: string): Promise<void> {
    log.error({ job, error }, `${job} failed`);
    await alerter.send({ kind: 'failure', severity: 'critical', message: `${job} run (run-once) failed: ${error}`, details: { job, reason: 'run-once' } });
  }
}

/**
 * Each bureau's send in turn, each recorded in the history under its bureau's name (`send` for the
 * first bureau, `send:<CODE>` for another), as `send` and the daemon record theirs. One run over
 * every bureau, recorded as the first bureau's, credited another bureau's sends and failures to it
 * (history --bureau, the status page's last send), and a failure of one bureau left the files the
 * others sent out of the history and of the output. The results of the bureaus that ran are added
 * up; their failures make the error (scrubbed: it is printed).
 */
async function sendEachBureau(app: App, jobs: readonly BureauSendJob[], options: SendOptions & { signal: AbortSignal }): Promise<{ result?: SendResult; error?: string }> {
  const results: SendResult[] = [];
  const errors: string[] = [];
  for (const { code, job } of jobs) {
    if (options.signal.aborted) break;
    const name = jobNameFor(bureauView(app.config, code), 'send');
    try {
      results.push(await withProgressShown(name, app.log, (progress) => runManually(app, name, (o) => job.run(o), { ...options, progress }, sendRunCounts)));
    } catch (err) {
      errors.push(jobs.length > 1 ? `bureau ${code}: ${messageOf(err)}` : messageOf(err));
    }
  }
  return { ...(results.length ? { result: mergeResults(results) } : {}), ...(errors.length ? { error: scrub(errors.join('; ')) } : {}) };
}

function printOutcome(outcome: RunOnceOutcome): void {
  const out = process.stdout;
  if (outcome.send) {
    const { result, error } = outcome.send;
    if (error !== undefined) out.write(`send: FAILED: ${error}\n`);
    if (result) {
      if (result.notBusinessDay) out.write(`send: not a business day (${result.notBusinessDay}): nothing new claimed; --force sends anyway\n`);
      out.write(`send: ${result.cardsSent} card(s) in ${result.batches.length} file(s), ${result.invalidTotal ?? result.invalid.length} Invalid\n`);
      if (result.batches.length) printTable(result.batches.map((b) => ({ file: b.fileName, records: b.records, state: b.state })));
      if (result.invalid.length) printTable(result.invalid.map((i) => ({ contract: i.contractNumber, plastic: i.plasticId, reason: i.reason })));
    }
  }
  if (outcome.receive) {
    const { result, error } = outcome.receive;
    if (error !== undefined) out.write(`receive: FAILED: ${error}\n`);
    if (result) {
      out.write(`receive: ${result.applied.length} report(s) applied, ${result.quarantined.length} quarantined, ${result.duplicates} already applied\n`);
      if (result.applied.length) printTable(result.applied.map((r) => ({ report: r.remoteName, rejected: r.rejections, shipped: r.shipments, stock: r.stockItems, anomalies: r.anomalies })));
      if (result.quarantined.length) printTable(result.quarantined.map((q) => ({ quarantined: q.remoteName, reason: q.reason })));
    }
  }
}
