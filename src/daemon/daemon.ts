import { makeCalendar, type BusinessCalendar } from '../calendar/index.js';
import type { Config } from '../config/schema.js';
import type { Db } from '../db/connection.js';
import { liveLeaseHolder } from '../db/lease.js';
import { forgetRunner, listRuns, noteRunner } from '../db/runs.js';
import { messageOf } from '../errors.js';
import type { Clock, ReceiveJob, ReceiveOptions, ReceiveResult, SendJob, SendOptions, SendResult } from '../jobs.js';
import { everyBureauReceive } from '../inbound/receive-bureau.js';
import type { Logger } from '../log.js';
import { JobProgress } from '../progress/job-progress.js';
import { showProgress } from '../progress/show.js';
import { makeAlerter, type Alerter } from './alerts.js';
import { batchProgressOf } from './batch-progress.js';
import { evaluateHealth, type Health } from './health.js';
import { makeJobRunner, type RunRecord } from './job-runner.js';
import { makeMetrics, type DaemonMetrics, type KeyExpiry } from './metrics.js';
import { makeRunHistory, receiveRunCounts, sendRunCounts } from './run-history.js';
import { bureauSendPlans, makeSchedulePlan } from './plan.js';
import { RUNNER_LEASE, makeRunnerLease, runnerOwner } from '../lease/runner-lease.js';
import { makeScheduler, type BatchProgress, type Scheduler, type SendLaneDeps } from './scheduler.js';
import type { BureauScope } from '../db/bureau-scope.js';
import { StatusBoard, type DaemonStatus } from './status-board.js';
import { startTicker, type Ticker } from './ticker.js';
import { makeWatchers } from './watchers.js';

export interface DaemonDeps {
  db: Db;
  config: Config;
  /**
   * `sendPerBureau`: each bureau's own send job (wiring), each run at that bureau's cut-offs. Without
   * it, `send` is scheduled alone, as the first bureau's, at its cut-offs. `receivePerBureau`: each
   * bureau's own receive job, run in turn as one receive, each bureau's reports counted under its
   * code as its turn ends. Without it, `receive` runs, its reports counted as the first bureau's.
   */
  jobs: {
    send: SendJob; receive: ReceiveJob;
    sendPerBureau?: ReadonlyArray<{ code: string; job: SendJob }>; receivePerBureau?: ReadonlyArray<{ code: string; job: ReceiveJob }>;
  };
  log: Logger;
  clock?: Clock;
  calendar?: BusinessCalendar;
  alerter?: Alerter;
  metrics?: DaemonMetrics;
  /** the OpenPGP keys' time left (checked at activation and daily); none when not given */
  keyExpiries?: (now: Date) => Promise<KeyExpiry[]>;
  /** a bureau's batches as the scheduler reads them (default: the database) */
  batches?: (bureau: BureauScope) => BatchProgress;
  owner?: string;
  /** starts the timer that calls tick (default ticker.ts, every 10 s; tests tick by hand) */
  startTicker?: (tick: () => void) => Ticker;
  /** lease renewal / takeover polling interval (default a third of daemon.leaseTtlSeconds) */
  leaseIntervalMs?: number;
}

export interface Daemon {
  /** starts the lease keeper (standby until the lease is ours) and the minute ticker */
  start(): void;
  /** graceful stop: no new runs, abort the current ones at a safe point, wait, release the lease */
  stop(reason: string): Promise<void>;
  health(): Promise<Health>;
  status(): DaemonStatus;
  readonly metrics: DaemonMetrics;
  readonly scheduler: Scheduler;
  /** true while this daemon holds the runner lease */
  leaseHeld(): boolean;
}

/**
 * The long-running service: one active runner per database (the lease); while active, the send
 * job at each cut-off on business days and the receive job every N minutes, with catch-up at
 * activation; metrics, health and alerts from every run.
 */
export function makeDaemon(deps: DaemonDeps): Daemon {
  const { db, config, log } = deps;
  const clock = deps.clock ?? (() => new Date());
  const owner = deps.owner ?? runnerOwner();
  const calendar = deps.calendar ?? makeCalendar(config.calendar);
  const metrics = deps.metrics ?? makeMetrics({ db, log, bureaus: config.bureaus.map((b) => b.code) });
  const alerter = deps.alerter ?? makeAlerter(config.alerts, { log, clock });
  const board = new StatusBoard(owner);
  const watchers = makeWatchers({ db, config, alerter, metrics, clock, keyExpiries: deps.keyExpiries, log });
  const history = makeRunHistory({ db, runner: owner, log });

  const sends = sendLanes();
  const receiveJob = receiveCountingReports();
  const receive = makeJobRunner<ReceiveOptions, ReceiveResult>({
    name: 'receive', log, clock,
    run: (options) => withProgress('receive', (progress) => receiveJob.run({ ...options, progress })),
    summarize: (r) => ({ applied: r.applied.length, quarantined: r.quarantined.length, duplicates: r.duplicates }),
    onFinished: (record) => afterReceive(record),
    history: { record: history, counts: receiveRunCounts },
  });
  const scheduler = makeScheduler({
    plan: makeSchedulePlan(calendar, config.schedule), schedule: config.schedule, clock, log, sends, receive,
    // by then a dead runner's send lease has expired
    sendRetryBaseMs: config.daemon.leaseTtlSeconds * 1000,
  });

  /**
   * One lane per bureau: its job under its own name (`send` for the first bureau, `send:<CODE>`: its
   * lease), run at its own cut-offs, reading its own batches.
   */
  function sendLanes(): SendLaneDeps[] {
    const plans = bureauSendPlans(calendar, config);
    const given = deps.jobs.sendPerBureau ?? [{ code: plans[0]!.code, job: deps.jobs.send }];
    return given.map(({ code, job }) => {
      const index = plans.findIndex((p) => p.code === code);
      if (index < 0) throw new Error(`send job for ${code}: not a configured bureau (${plans.map((p) => p.code).join(', ')})`);
      const { job: name, plan } = plans[index]!;
      const runner = makeJobRunner<SendOptions, SendResult>({
        name, log, clock,
        run: (options) => withProgress(name, (progress) => job.run({ ...options, progress }), code),
        summarize: (r) => ({ files: r.batches.map((b) => b.fileName), cardsSent: r.cardsSent, invalid: r.invalid.length }),
        onFinished: (record) => afterSend(record, code),
        history: { record: history, counts: sendRunCounts },
      });
      const scope = { code, first: index === 0 };
      return { code, plan, runner, batches: deps.batches?.(scope) ?? countingEmptyRuns(batchProgressOf(db, scope), name) };
    });
  }

  /**
   * A cut-off is served by a batch sent since, or by a send run since that claimed for its business
   * date and succeeded with nothing to send (no batch then): else every restart or lease taken back
   * that evening "caught up" the cut-off, sending the cards marked since in a file of their own.
   */
  function countingEmptyRuns(batches: BatchProgress, job: string): BatchProgress {
    return {
      unfinishedDates: () => batches.unfinishedDates(),
      async hasSentBatch(businessDate, since) {
        if (await batches.hasSentBatch(businessDate, since)) return true;
        const runs = await listRuns(db, { job, exact: true, since: since.toISOString(), limit: 100 });
        // a resume claims nothing: it does not serve a cut-off
        return runs.some((r) => r.businessDate === businessDate && (r.outcome === 'ok' || r.outcome === 'partial') && r.reason !== 'resume');
      },
    };
  }

  /**
   * The receive of every bureau in turn; each bureau's reports are counted under its code and alerted
   * as its turn ends, so that a bureau whose receive failed does not hide another's.
   */
  function receiveCountingReports(): ReceiveJob {
    const perBureau = deps.jobs.receivePerBureau ?? [{ code: config.bureaus[0]!.code, job: deps.jobs.receive }];
    return everyBureauReceive(perBureau, (result, bureau) => {
      metrics.recordReports(result, bureau);
      inBackground(watchers.reportsReceived(result, bureau));
    });
  }

  /** A run's progress: in the metrics while it runs, and a log line at an interval (a service has no terminal). */
  async function withProgress<T>(job: string, run: (progress: JobProgress) => Promise<T>, bureau?: string): Promise<T> {
    const progress = new JobProgress(job);
    const unwatch = metrics.watchProgress(progress, bureau);
    const stopLogging = showProgress(progress, { log });
    try {
      return await run(progress);
    } finally {
      stopLogging();
      unwatch();
    }
  }

  // alerts go out in the background: a slow or unreachable webhook must not hold up the next run
  const inBackground = (work: Promise<void>) => void work.catch((err) => log.warn({ error: messageOf(err) }, 'alerting failed'));

  function afterSend(record: RunRecord<SendResult>, bureau: string): void {
    metrics.recordSend(record, bureau);
    board.finished(record.job, record);
    if (record.error !== undefined && !record.aborted) inBackground(watchers.jobFailed(record));
    if (record.error === undefined) inBackground(watchers.jobSucceeded(record));
    for (const card of record.result?.invalid ?? []) {
      log.warn({ bureau, contract: card.contractNumber, plasticId: card.plasticId, reason: card.reason }, 'contract set Invalid: not sent');
    }
  }

  function afterReceive(record: RunRecord<ReceiveResult>): void {
    metrics.recordReceive(record);
    board.finished('receive', record);
    if (record.error !== undefined && !record.aborted) inBackground(watchers.jobFailed(record));
    if (record.error === undefined) inBackground(watchers.jobSucceeded(record));
  }

  // when this runner lost the lease: taking it again ends that critical alert with a resolved one
  let lostLease: { at: Date; reason: string } | undefined;
  const leaseRegained = () => {
    if (!lostLease) return;
    const lostAt = lostLease.at.toISOString();
    inBackground(alerter.send({
      kind: 'resolved', severity: 'info',
      message: `${owner} holds the runner lease again (lost at ${lostAt}: ${lostLease.reason})`,
      details: { owner, job: 'runner lease', since: lostAt },
    }).then(() => undefined));
    lostLease = undefined;
  };

  const lease = makeRunnerLease({
    db, owner, log,
    ttlMs: config.daemon.leaseTtlSeconds * 1000,
    intervalMs: deps.leaseIntervalMs,
    async onAcquired() {
      await scheduler.activate();
      board.setRole('active', clock());
      void notePresence();
      metrics.setLeaseHeld(true);
      watchers.start();
      leaseRegained();
    },
    async onLost(reason) {
      board.setRole('standby', clock());
      void notePresence();
      metrics.setLeaseHeld(false);
      watchers.stop();
      // stop the runs first: another runner may already be starting
      const stopped = scheduler.deactivate(`lease lost: ${reason}`);
      lostLease ??= { at: clock(), reason };
      // in the background: a hung webhook must not keep this daemon from taking the lease again, nor from stopping
      inBackground(alerter.send({ kind: 'lease-lost', severity: 'critical', message: `${owner} lost the runner lease: ${reason}`, details: { owner } }).then(() => undefined));
      await stopped;
    },
  });

  let ticker: Ticker | undefined;
  let stopping: Promise<void> | undefined;

  // standbys hold no lease: each runner says it lives, and in which role, for the status page
  let presence: NodeJS.Timeout | undefined;
  const notePresence = () => noteRunner(db, owner, status().role, clock().toISOString())
    .catch((err) => log.debug({ error: messageOf(err) }, 'could not note this runner for the status page'));

  /** one read answers both: does the database answer, and who holds the runner lease */
  async function databaseCheck(): Promise<{ database: { reachable: boolean; error?: string }; leaseHolder?: string | null }> {
    try {
      const holder = await Promise.race([
        liveLeaseHolder(db, RUNNER_LEASE),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
      ]);
      return { database: { reachable: true }, leaseHolder: holder };
    } catch (err) {
      return { database: { reachable: false, error: messageOf(err) } };
    }
  }

  const status = () => board.snapshot(Object.fromEntries([...sends.map((s) => [s.runner.name, s.runner.busy()]), ['receive', receive.busy()]]));

  return {
    metrics,
    scheduler,
    leaseHeld: () => lease.held(),
    status,
    start() {
      board.setRole('standby', clock());
      lease.start();
      // a paused process wakes up with every timer due: a tick may come before the keeper's look finds
      // the lease taken; a lease that ran out (by the monotonic clock) starts nothing
      ticker = (deps.startTicker ?? ((tick) => startTicker(tick, log)))(() => {
        if (lease.held()) scheduler.tick();
      });
      void notePresence();
      presence = setInterval(() => void notePresence(), deps.leaseIntervalMs ?? (config.daemon.leaseTtlSeconds * 1000) / 3);
      presence.unref();
      log.info({ owner, timezone: config.schedule.timezone, sendAt: Object.fromEntries(config.bureaus.map((b) => [b.code, b.sendAt])), receiveEveryMinutes: config.schedule.receiveEveryMinutes, holidays: config.calendar.holidays ?? null }, 'daemon started');
      if (!config.calendar.holidays) log.warn('no public holidays configured (calendar.holidays): every working weekday is a business day, 25 December included');
    },
    stop(reason) {
      stopping ??= (async () => {
        log.info({ reason }, 'daemon stopping: no new runs');
        board.setRole('stopping', clock());
        ticker?.stop();
        watchers.stop();
        await scheduler.deactivate(reason);
        await lease.stop();
        clearInterval(presence);
        await forgetRunner(db, owner).catch(() => undefined);
        metrics.setLeaseHeld(false);
        log.info('daemon stopped');
      })();
      return stopping;
    },
    async health() {
      return evaluateHealth({
        status: status(), ...(await databaseCheck()), leaseHeld: lease.held(), now: clock(),
        receiveEveryMinutes: config.schedule.receiveEveryMinutes,
      });
    },
  };
}
