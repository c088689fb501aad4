import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeCalendar } from '../../src/calendar/index.js';
import { configSchema } from '../../src/config/schema.js';
import { batchProgressOf } from '../../src/daemon/batch-progress.js';
import { makeJobRunner } from '../../src/daemon/job-runner.js';
import { bureauSendPlans, makeSchedulePlan } from '../../src/daemon/plan.js';
import { makeScheduler } from '../../src/daemon/scheduler.js';
import type { ReceiveOptions, ReceiveResult, SendOptions, SendResult } from '../../src/jobs.js';
import { silentLogger } from '../../src/log.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';
import { MINUTE, tickEachMinuteUntil } from './scheduler-harness.js';

/** Three bureaus: B1 at 11:00 and 17:00, B2 with the schedule's (09:30), B3 at 14:15. */
function threeBureaus(schedule: Record<string, unknown> = {}) {
  return configSchema.parse({
    issuer: { code: 'BXISSUER' },
    calendar: { holidays: 'DE' },
    schedule: { timezone: 'Europe/Berlin', sendAt: ['09:30'], catchUp: false, ...schedule },
    bureaus: [{ code: 'B1', sendAt: ['17:00', '11:00'] }, { code: 'B2' }, { code: 'B3', sendAt: ['14:15'] }],
    routing: { default: 'B1' },
  });
}

describe('schedule plan per bureau (pure)', () => {
  const config = threeBureaus();
  const calendar = makeCalendar(config.calendar);
  const plans = bureauSendPlans(calendar, config);

  it("each bureau has its own cut-offs (the schedule's when it gives none) and its own job name", () => {
    assert.deepEqual(plans.map((p) => [p.code, p.job, p.sendAt]), [
      ['B1', 'send', ['17:00', '11:00']], ['B2', 'send:B2', ['09:30']], ['B3', 'send:B3', ['14:15']],
    ]);
    // Thursday 24 December to Monday 28 December 2026, Berlin (UTC+1): Christmas and the weekend are no business days
    const from = new Date('2026-12-24T00:00:00Z');
    const to = new Date('2026-12-28T23:00:00Z');
    const business = (code: string) => plans.find((p) => p.code === code)!.plan.sendSlotsBetween(from, to).filter((s) => !s.notBusiness).map((s) => s.at.toISOString());
    assert.deepEqual(business('B1'), ['2026-12-24T10:00:00.000Z', '2026-12-24T16:00:00.000Z', '2026-12-28T10:00:00.000Z', '2026-12-28T16:00:00.000Z']);
    assert.deepEqual(business('B2'), ['2026-12-24T08:30:00.000Z', '2026-12-28T08:30:00.000Z']);
    assert.deepEqual(business('B3'), ['2026-12-24T13:15:00.000Z', '2026-12-28T13:15:00.000Z']);
  });

  it("each bureau's last cut-off is its own", () => {
    const now = new Date('2026-12-28T12:00:00Z'); // Monday 13:00 Berlin
    assert.deepEqual(plans.map((p) => [p.code, p.plan.lastCutOff(now).at.toISOString()]), [
      ['B1', '2026-12-28T10:00:00.000Z'], ['B2', '2026-12-28T08:30:00.000Z'], ['B3', '2026-12-24T13:15:00.000Z'],
    ]);
  });

  it("property: a bureau's slots in any window are exactly those of a one-bureau plan at its cut-offs, and no other bureau's", () => {
    const time = fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
      .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);
    const times = fc.uniqueArray(time, { minLength: 1, maxLength: 4 });
    fc.assert(fc.property(times, times, fc.integer({ min: 0, max: 400 * 24 * 60 }), fc.integer({ min: 1, max: 4 * 24 * 60 }), (a, b, startMinute, minutes) => {
      const cfg = configSchema.parse({
        issuer: { code: 'BXISSUER' }, schedule: { sendAt: ['17:00'] },
        bureaus: [{ code: 'A', sendAt: a }, { code: 'B', sendAt: b }], routing: { default: 'A' },
      });
      const [pa, pb] = bureauSendPlans(calendar, cfg);
      const from = new Date(Date.UTC(2026, 0, 1) + startMinute * MINUTE);
      const to = new Date(from.getTime() + minutes * MINUTE);
      const alone = (sendAt: string[]) => makeSchedulePlan(calendar, { ...cfg.schedule, sendAt }).sendSlotsBetween(from, to);
      assert.deepEqual(pa!.plan.sendSlotsBetween(from, to), alone(a));
      assert.deepEqual(pb!.plan.sendSlotsBetween(from, to), alone(b));
      assert.ok(pa!.plan.sendSlotsBetween(from, to).every((s) => a.includes(s.time)));
    }), { numRuns: 150 });
  });
});

describeEachDatabase('scheduler with several bureaus (controllable clock)', (ctx) => {
  afterEach(() => ctx().db('perso_batches').delete());

  function setup(start: string, schedule: Record<string, unknown> = {}) {
    const config = threeBureaus(schedule);
    const clock = manualClock(start);
    const calendar = makeCalendar(config.calendar);
    const jobs = new Map(config.bureaus.map((b) => [b.code, recordingSendJob()]));
    const runners = new Map<string, ReturnType<typeof makeJobRunner<SendOptions, SendResult>>>();
    const receive = makeJobRunner<ReceiveOptions, ReceiveResult>({ name: 'receive', run: (o) => recordingReceiveJob().run(o), log: silentLogger, clock });
    const scheduler = makeScheduler({
      plan: makeSchedulePlan(calendar, config.schedule), schedule: config.schedule, clock, log: silentLogger, receive, sendRetryBaseMs: MINUTE,
      sends: bureauSendPlans(calendar, config).map((p, i) => ({
        code: p.code, plan: p.plan, batches: batchProgressOf(ctx().db, { code: p.code, first: i === 0 }),
        runner: runners.set(p.code, makeJobRunner<SendOptions, SendResult>({ name: p.job, run: (o) => jobs.get(p.code)!.run(o), log: silentLogger, clock })).get(p.code)!,
      })),
    });
    const runUntil = (iso: string) => tickEachMinuteUntil(clock, scheduler, iso);
    const calls = () => Object.fromEntries([...jobs].map(([code, job]) => [code, job.calls.map((c) => `${c.businessDate}${c.resumeOnly ? ' resume' : ''}`)]));
    return { clock, jobs, runners, scheduler, runUntil, calls };
  }

  async function insertBatch(bureau: string | null, businessDate: string, state: string, sentAt: string | null = null): Promise<void> {
    const now = new Date().toISOString();
    await ctx().db('perso_batches').insert({
      bureau_code: bureau, business_date: businessDate, sequence: 1, file_name: `${bureau ?? 'OLD'}_${businessDate}.pgp`,
      state, created_at: now, updated_at: now, sent_at: sentAt,
    });
  }

  it("each bureau sends at its own cut-offs only, business days only", async () => {
    const { scheduler, runUntil, calls } = setup('2026-12-23T22:00:00Z'); // Thursday 24 December, 00:00 Berlin
    await scheduler.activate();
    await runUntil('2026-12-28T23:00:00Z');
    assert.deepEqual(calls(), {
      B1: ['2026-12-24', '2026-12-24', '2026-12-28', '2026-12-28'], B2: ['2026-12-24', '2026-12-28'], B3: ['2026-12-24', '2026-12-28'],
    });
  });

  it("one bureau's send hanging holds neither another bureau's cut-off nor its retries", async () => {
    const { clock, jobs, runners, scheduler, calls } = setup('2026-11-26T08:00:00Z'); // Thursday 09:00 Berlin
    await scheduler.activate();
    jobs.get('B2')!.hold(); // B2's upload hangs from 09:30
    jobs.get('B3')!.fail = new Error('connect ECONNREFUSED 10.0.0.3:22');
    for (const iso of ['2026-11-26T08:31:00Z', '2026-11-26T10:01:00Z', '2026-11-26T13:16:00Z', '2026-11-26T13:18:00Z']) {
      clock.set(iso);
      scheduler.tick();
      await waitFor('the runs but B2\'s over', () => !runners.get('B1')!.busy() && !runners.get('B3')!.busy());
    }
    // B1 at 11:00 and B3 at 14:15 (then its retry a minute later) ran while B2's send still hung
    assert.equal(runners.get('B2')!.busy(), true);
    assert.deepEqual(calls(), { B1: ['2026-11-26'], B2: ['2026-11-26'], B3: ['2026-11-26', '2026-11-26'] });
    jobs.get('B2')!.release();
    await scheduler.settled();
  });

  it('catches up and resumes per bureau: only the bureau whose cut-off passed unsent, only the bureau with an unfinished batch', async () => {
    // Thursday 26 November, 15:00 Berlin: every bureau's last cut-off is that day's
    await insertBatch(null, '2026-11-26', 'sent', '2026-11-26T10:00:05.000Z'); // a batch from before several bureaus: the first bureau's
    await insertBatch('B3', '2026-11-26', 'sent', '2026-11-26T13:15:09.000Z');
    await insertBatch('B3', '2026-11-25', 'encrypted');
    const { scheduler, calls } = setup('2026-11-26T14:00:00Z', { catchUp: true });
    await scheduler.activate();
    await scheduler.settled();
    assert.deepEqual(calls(), { B1: [], B2: ['2026-11-26'], B3: ['2026-11-26 resume'] });
  });
});
