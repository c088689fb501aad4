import { makeCalendar, type BusinessCalendar } from '../calendar/index.js';
import { dateInZone } from '../calendar/index.js';
import type { Config } from '../config/schema.js';
import { rowBureau } from '../db/bureau-scope.js';
import { pingDatabase, type Db } from '../db/connection.js';
import { liveLeaseHolder } from '../db/lease.js';
import { countByStatus } from '../db/contracts.js';
import { quarantinedReports } from '../db/reports.js';
import { lastRunOfEachJob, listRuns, presentRunners, type JobRun } from '../db/runs.js';
import { cardsPerBusinessDay, cardsWaiting, leaseList, rejectionReasons, unfinishedBatchList, type CardsOfDay } from '../db/status-page.js';
import { batchCountsByBureau, stockSummary, type BureauBatchCounts, type StatusSummary } from '../db/status-summary.js';
import { stockHistory, type StockPoint } from '../db/stock.js';
import { bureauSendPlans } from '../daemon/plan.js';
import type { Health } from '../daemon/health.js';
import { messageOf } from '../errors.js';

const DAY_MS = 86_400_000;
/** How long the card counts are served again before they are read anew (the metrics' bx_contracts too). */
const COUNTS_MAX_AGE_MS = 60_000;
/** The most cards-per-day dates anyone can ask for (/api/cards-per-day caps `days` there). */
const MAX_DAYS = 366;
/** The quarantined reports listed (the alert counts them all). */
const QUARANTINED_SHOWN = 100;
/** As the probes: a database slower than this to answer `select 1` counts as down. */
const PING_TIMEOUT_MS = 5000;

/** What the status page and its JSON endpoints read; none of it holds a PAN beyond masked text. */
export interface StatusData {
  status(): Promise<StatusDocument>;
  runs(filter: { job?: string; limit?: number }): Promise<JobRun[]>;
  cardsPerDay(days?: number): Promise<{ waiting: number; days: CardsOfDay[] }>;
  stock(days?: number): Promise<{ levels: StatusDocument['stock']; history: StockPoint[] }>;
  /** why the database does not answer a trivial query within 5 s, or null when it does */
  databaseProblem(): Promise<string | null>;
}

export interface StatusDocument {
  generatedAt: string;
  schedule: {
    timezone: string;
    today: string;
    todayIsBusinessDay: boolean;
    /** why today is not a business day, when it is not */
    todayNot: string | null;
    /** the next cut-off of any bureau */
    nextCutOff: NextCutOff | null;
    receiveEveryMinutes: number;
  };
  /** one per configured bureau, in config order: its cut-offs, its last send, its batches not sent yet */
  bureaus: Array<{
    code: string;
    name: string;
    /** the name of its send runs and lease: `send` for the first bureau, `send:<CODE>` */
    job: string;
    sendAt: string[];
    nextCutOff: NextCutOff | null;
    lastSend: JobRun | null;
    unsent: number;
    batches: BureauBatchCounts['batches'];
  }>;
  runners: {
    /** the live holder of the daemon lease, or null */
    active: string | null;
    present: Array<{ runner: string; role: string; startedAt: string; seenAt: string }>;
    leases: Array<{ name: string; owner: string; acquiredAt: string; expiresAt: string; live: boolean }>;
  };
  /** the latest run of each job (send: of any bureau) */
  lastRuns: { send: JobRun | null; receive: JobRun | null };
  contracts: Record<string, number>;
  unfinishedBatches: Awaited<ReturnType<typeof unfinishedBatchList>>;
  rejections: Awaited<ReturnType<typeof rejectionReasons>>;
  /** the latest 100, the latest first */
  quarantined: Array<{ id: number; remoteName: string; error: string | null; createdAt: string; requeue: string }>;
  /** every quarantined report, listed or not */
  quarantinedTotal: number;
  stock: StatusSummary['stock'];
  /** what needs a person now, from the same state the webhook alerts come from */
  alerts: Array<{ severity: 'critical' | 'warning'; kind: string; message: string }>;
  health: Pick<Health, 'healthy' | 'ready' | 'problems' | 'bureau'> | null;
}

type NextCutOff = { businessDate: string; time: string; at: string; bureau: string };

export interface StatusDataDeps {
  db: Db;
  config: Pick<Config, 'schedule' | 'calendar' | 'daemon' | 'bureaus'>;
  /** the daemon's own health (none when the page is served without a daemon) */
  health?: () => Promise<Health>;
  clock?: () => Date;
  /** the command an operator types, e.g. `bureau-exchange --config /etc/bx.yaml` */
  command?: string;
}

export function makeStatusData(deps: StatusDataDeps): StatusData {
  const { db, config } = deps;
  const clock = deps.clock ?? (() => new Date());
  const calendar: BusinessCalendar = makeCalendar(config.calendar);
  const plans = bureauSendPlans(calendar, config);
  /** the configured bureaus' codes, the first first: it owns the rows without a code (db/bureau-scope.ts) */
  const codes = plans.map((p) => p.code);
  const command = deps.command ?? 'bureau-exchange';

  /**
   * `compute` again only when its last result is a minute old by `clock`; the requests meanwhile share
   * it, the one in flight included. The card counts read the whole contracts table (on SQLite on the
   * daemon's own thread, through its one connection, ahead of the lease renewal and the jobs): one
   * page refresh of a million cards took over a second, and every open tab, script or stranger
   * asking again paid it again.
   */
  function atMostOnceAMinute<T>(compute: () => Promise<T>): () => Promise<T> {
    let last: { at: number; value: Promise<T> } | undefined;
    return () => {
      const now = clock().getTime();
      if (!last || now - last.at >= COUNTS_MAX_AGE_MS || now < last.at) {
        const entry = { at: now, value: compute() };
        last = entry;
        // a failure (the database away a moment) is not served for a minute: the next request reads again
        entry.value.catch(() => { if (last === entry) last = undefined; });
      }
      return last.value;
    };
  }
  const cardCounts = atMostOnceAMinute(async () => {
    const [contracts, rejections] = await Promise.all([countByStatus(db), rejectionReasons(db)]);
    return { contracts, rejections };
  });
  const cardsOfDays = atMostOnceAMinute(async () => ({ waiting: await cardsWaiting(db), days: await cardsPerBusinessDay(db, MAX_DAYS) }));

  /**
   * Each bureau's next cut-off. Bureaus share the zone and the calendar, so the same cut-off times give
   * the same slot: computed once per set of times, a week ahead first (a month when a week holds no
   * business day). 500 bureaus took the page 5–7 s to compute, one bureau's month of slots after another.
   */
  function nextCutOffs(now: Date): Array<NextCutOff | null> {
    const byTimes = new Map<string, Omit<NextCutOff, 'bureau'> | null>();
    return plans.map(({ code, sendAt, plan }) => {
      const times = [...sendAt].sort().join(' ');
      if (!byTimes.has(times)) {
        const within = (days: number) => plan.sendSlotsBetween(now, new Date(now.getTime() + days * DAY_MS)).find((s) => s.notBusiness === null);
        const slot = within(8) ?? within(31);
        byTimes.set(times, slot ? { businessDate: slot.date, time: slot.time, at: slot.at.toISOString() } : null);
      }
      const next = byTimes.get(times)!;
      return next && { ...next, bureau: code };
    });
  }

  async function bureaus(now: Date): Promise<StatusDocument['bureaus']> {
    const [counts, lastSends] = await Promise.all([batchCountsByBureau(db, codes), lastRunOfEachJob(db, plans.map((p) => p.job))]);
    const next = nextCutOffs(now);
    return plans.map((p, i) => {
      const c = counts.find((x) => x.bureau === p.code)!;
      return {
        code: p.code, name: config.bureaus[i]!.name, job: p.job, sendAt: [...p.sendAt].sort(), nextCutOff: next[i]!,
        lastSend: lastSends.get(p.job) ?? null, unsent: c.unsent, batches: c.batches,
      };
    });
  }

  async function runners(now: Date): Promise<StatusDocument['runners']> {
    const leases = await leaseList(db);
    const live = await Promise.all(leases.map((l) => liveLeaseHolder(db, l.name)));
    // a runner renews its presence every third of the lease's TTL: two TTLs without a word, it is gone
    const since = new Date(now.getTime() - 2 * config.daemon.leaseTtlSeconds * 1000).toISOString();
    return {
      active: await liveLeaseHolder(db, 'daemon'),
      present: await presentRunners(db, since),
      leases: leases.map((l, i) => ({ ...l, live: live[i] === l.owner })),
    };
  }

  function alertsOf(doc: Omit<StatusDocument, 'alerts'>): StatusDocument['alerts'] {
    const alerts: StatusDocument['alerts'] = [];
    for (const p of doc.health?.problems ?? []) alerts.push({ severity: 'critical', kind: 'health', message: p });
    for (const p of doc.health?.bureau.problems ?? []) alerts.push({ severity: 'critical', kind: 'bureau', message: p });
    const several = doc.bureaus.length > 1;
    const lastRuns = [...doc.bureaus.map((b) => ({ run: b.lastSend, of: several ? ` for bureau ${b.code}` : '' })), { run: doc.lastRuns.receive, of: '' }];
    for (const { run, of } of lastRuns) {
      if (run && (run.outcome === 'failed' || run.outcome === 'interrupted')) {
        alerts.push({ severity: 'critical', kind: 'failure', message: `last ${run.job.split(':')[0]} run${of} ${run.outcome}${run.error ? `: ${run.error}` : ''}` });
      }
    }
    if (doc.quarantinedTotal) alerts.push({ severity: 'critical', kind: 'quarantine', message: `${doc.quarantinedTotal} report(s) quarantined` });
    for (const s of doc.stock.filter((x) => x.low)) {
      alerts.push({ severity: 'warning', kind: 'low-stock', message: `plastic stock of ${s.productCode}${codes.length > 1 ? ` at bureau ${s.bureauCode}` : ''} is ${s.closing}, below the minimum ${s.minStock}` });
    }
    if (doc.runners.active === null && doc.health) alerts.push({ severity: 'critical', kind: 'lease', message: 'no runner holds the daemon lease' });
    return alerts;
  }

  return {
    async status() {
      const now = clock();
      const today = dateInZone(now, config.schedule.timezone);
      // what an operator acts on (runs, batches, quarantine, stock, runners) is read fresh; the card counts at most once a minute
      const [{ contracts, rejections }, quarantined, stock, [send], [receive], unfinished, who, health, perBureau] = await Promise.all([
        cardCounts(), quarantinedReports(db), stockSummary(db, codes[0]!), listRuns(db, { job: 'send', limit: 1 }), listRuns(db, { job: 'receive', limit: 1 }),
        unfinishedBatchList(db, codes[0]!), runners(now), deps.health?.(), bureaus(now),
      ]);
      const next = perBureau.map((b) => b.nextCutOff).filter((c) => c !== null).sort((a, b) => a.at.localeCompare(b.at))[0] ?? null;
      const doc: Omit<StatusDocument, 'alerts'> = {
        generatedAt: now.toISOString(),
        schedule: {
          timezone: config.schedule.timezone, today, todayIsBusinessDay: calendar.isBusinessDay(today), todayNot: calendar.whyNot(today),
          nextCutOff: next, receiveEveryMinutes: config.schedule.receiveEveryMinutes,
        },
        bureaus: perBureau,
        runners: who,
        lastRuns: { send: send ?? null, receive: receive ?? null },
        contracts,
        unfinishedBatches: unfinished,
        rejections,
        quarantined: quarantined.slice(-QUARANTINED_SHOWN).reverse().map((q) => ({
          id: Number(q.id), remoteName: q.remote_name, error: q.error, createdAt: q.created_at, requeue: `${command} receive --requeue ${q.id}`,
        })),
        quarantinedTotal: quarantined.length,
        stock,
        health: health ? { healthy: health.healthy, ready: health.ready, problems: health.problems, bureau: health.bureau } : null,
      };
      return { ...doc, alerts: alertsOf(doc) };
    },

    runs: (filter) => listRuns(db, { job: filter.job, limit: Math.min(filter.limit ?? 20, 500) }),

    async cardsPerDay(days = 30) {
      const { waiting, days: all } = await cardsOfDays();
      return { waiting, days: all.slice(-Math.min(Math.max(days, 1), MAX_DAYS)) };
    },

    async databaseProblem() {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([pingDatabase(db), new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS / 1000} s`)), PING_TIMEOUT_MS); })]);
        return null;
      } catch (err) {
        return messageOf(err);
      } finally {
        clearTimeout(timer);
      }
    },

    async stock(days = 90) {
      const since = dateInZone(new Date(clock().getTime() - days * DAY_MS), config.schedule.timezone);
      const history = (await stockHistory(db, since)).map((p) => ({ ...p, bureauCode: rowBureau(p.bureauCode, codes[0]!) }));
      return { levels: await stockSummary(db, codes[0]!), history };
    },
  };
}
