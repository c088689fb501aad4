/**
 * Daemon overheads that grow with time or data, on this machine:
 *  - one scheduler tick (every 10 s in production) over a simulated week,
 *  - the business-day calendar with holidays over ten years,
 *  - a /metrics scrape and a /healthz check with N contracts in the database (the contracts gauge
 *    counts by status at each scrape), on SQLite and, when reachable, PostgreSQL.
 * Run: npx tsx bench/daemon.ts [contracts=1000000]
 * Writes its figures under "## Daemon" in bench/RESULTS.md (and prints them).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCalendar, addDays } from '../src/calendar/index.js';
import { makeDaemon } from '../src/daemon/daemon.js';
import { makeJobRunner } from '../src/daemon/job-runner.js';
import { makeSchedulePlan } from '../src/daemon/plan.js';
import { makeScheduler } from '../src/daemon/scheduler.js';
import { dialectOf, type Db } from '../src/db/connection.js';
import { PROJECT_ROOT } from '../src/config/load.js';
import type { ReceiveOptions, ReceiveResult, SendOptions, SendResult } from '../src/jobs.js';
import { silentLogger } from '../src/log.js';
import { testConfig } from '../test/helpers/config.js';
import { createTestDatabase } from '../test/helpers/db.js';

const CONTRACTS = Number(process.argv[2] ?? 1_000_000);
const lines: string[] = [];
const report = (line: string) => {
  lines.push(line);
  console.log(line);
};

async function tickCost(): Promise<void> {
  const config = testConfig({ calendar: { holidays: 'DE' }, schedule: { catchUp: false } });
  let now = new Date('2026-12-21T00:00:00Z').getTime();
  const clock = () => new Date(now);
  const noop = async () => ({ batches: [], cardsSent: 0, invalid: [] } as SendResult);
  const send = makeJobRunner<SendOptions, SendResult>({ name: 'send', run: noop, log: silentLogger, clock });
  const receive = makeJobRunner<ReceiveOptions, ReceiveResult>({ name: 'receive', run: async () => ({ applied: [], quarantined: [], duplicates: 0 }), log: silentLogger, clock });
  const plan = makeSchedulePlan(makeCalendar(config.calendar), config.schedule);
  const scheduler = makeScheduler({
    plan, schedule: config.schedule, clock, log: silentLogger, receive, sendRetryBaseMs: 60_000,
    sends: [{ code: config.bureau.code, plan, runner: send, batches: { unfinishedDates: async () => [], hasSentBatch: async () => true } }],
  });
  await scheduler.activate();
  const ticks = 7 * 8640;
  const start = performance.now();
  for (let i = 0; i < ticks; i++) {
    now += 10_000;
    scheduler.tick();
    if (send.busy() || receive.busy()) await scheduler.settled();
  }
  const ms = performance.now() - start;
  report(`- scheduler tick (every 10 s, a week = ${ticks.toLocaleString('en')} ticks, runs included): ${((ms * 1000) / ticks).toFixed(1)} µs per tick, ${ms.toFixed(0)} ms in all`);
}

function calendarCost(): void {
  const calendar = makeCalendar(testConfig({ calendar: { holidays: 'DE-BY', extraHolidays: ['2026-12-24'] } }).calendar);
  const start = performance.now();
  let business = 0;
  let date = '2026-01-01';
  const days = 3653;
  for (let i = 0; i < days; i++, date = addDays(date, 1)) if (calendar.isBusinessDay(date)) business++;
  const ms = performance.now() - start;
  report(`- calendar DE-BY, ten years (${days} days, ${business} business days, holiday tables built on first use): ${ms.toFixed(0)} ms, ${((ms * 1000) / days).toFixed(1)} µs per day`);
}

async function fillContracts(db: Db, n: number): Promise<void> {
  const now = new Date().toISOString();
  await db('clients').insert({ first_name: 'A', last_name: 'B', created_at: now, updated_at: now });
  const statuses = `case when i % 10 = 0 then 'Marked' when i % 10 < 8 then 'Shipped' else 'InProduction' end`;
  const columns = `contract_number, plastic_id, client_id, card_form, plastic_seq, pan_enc, pan_last4, pan_hmac, expiry, request_type, product_code, delivery_method, pin_mailer, production_status, created_at, updated_at`;
  const values = `cast(i as varchar(15)), cast(i as varchar(12)), 1, 'physical', 2, 'x', '0000', 'h', '2912', 'NEW', 'CLASSIC01', 1, 'N', ${statuses}, '${now}', '${now}'`;
  if (dialectOf(db) === 'pg') {
    await db.raw(`insert into card_contracts (${columns}) select ${values} from generate_series(1, ${n}) as s(i)`);
  } else {
    await db.raw(`with recursive s(i) as (select 1 union all select i + 1 from s where i < ${n}) insert into card_contracts (${columns}) select ${values} from s`);
  }
  if (dialectOf(db) === 'pg') await db.raw('analyze card_contracts');
}

async function scrapeCost(dialect: 'sqlite' | 'pg'): Promise<void> {
  const database = await createTestDatabase(dialect).catch(() => undefined);
  if (!database) return report(`- ${dialect}: not reachable, skipped`);
  try {
    const fillStart = performance.now();
    await fillContracts(database.db, CONTRACTS);
    const fillMs = performance.now() - fillStart;
    const daemon = makeDaemon({
      db: database.db, config: testConfig(), log: silentLogger, startTicker: () => ({ stop() {} }),
      jobs: { send: { run: async () => ({ batches: [], cardsSent: 0, invalid: [] }) }, receive: { run: async () => ({ applied: [], quarantined: [], duplicates: 0 }) } },
    });
    const scrapes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const text = await daemon.metrics.registry.metrics();
      scrapes.push(performance.now() - start);
      if (!text.includes('bx_contracts{status="Shipped"}')) throw new Error('contracts gauge missing');
    }
    const health: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      await daemon.health();
      health.push(performance.now() - start);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    report(`- ${dialect}, ${CONTRACTS.toLocaleString('en')} contracts (filled in ${(fillMs / 1000).toFixed(1)} s): /metrics scrape median ${median(scrapes).toFixed(0)} ms (first ${scrapes[0]!.toFixed(0)} ms), /healthz median ${median(health).toFixed(1)} ms`);
  } finally {
    await database.drop();
  }
}

function writeResults(): void {
  const file = join(PROJECT_ROOT, 'bench', 'RESULTS.md');
  const heading = '## Daemon (scheduler, calendar, metrics)';
  const section = [heading, '', `Command: \`npx tsx bench/daemon.ts ${CONTRACTS}\` — ${new Date().toISOString().slice(0, 10)}, ${process.platform} ${process.arch}, Node ${process.version}`, '', ...lines, ''].join('\n');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\n';
  const start = text.indexOf(heading);
  let next = start < 0 ? -1 : text.indexOf('\n## ', start + heading.length);
  if (next >= 0) next += 1;
  const updated = start < 0 ? text.trimEnd() + '\n\n' + section : text.slice(0, start) + section + (next >= 0 ? '\n' + text.slice(next) : '');
  writeFileSync(file, updated);
}

await tickCost();
calendarCost();
await scrapeCost('sqlite');
await scrapeCost('pg');
writeResults();
process.exit(0);
