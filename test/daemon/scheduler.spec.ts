import assert from 'node:assert/strict';
import { makeCalendar } from '../../src/calendar/index.js';
import { batchProgressOf } from '../../src/daemon/batch-progress.js';
import { makeSchedulePlan } from '../../src/daemon/plan.js';
import type { Db } from '../../src/db/connection.js';
import { PermanentError, TransientError } from '../../src/errors.js';
import type { SendOptions } from '../../src/jobs.js';
import { testConfig } from '../helpers/config.js';
import { createTestDatabase } from '../helpers/db.js';
import { MINUTE, oneBureauScheduler } from './scheduler-harness.js';

describe('daemon scheduler (controllable clock)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;
  before(async () => {
    database = await createTestDatabase('sqlite');
    db = database.db;
  });
  after(() => database.drop());
  afterEach(() => db('perso_batches').delete());

  const setup = (start: string, schedule: Record<string, unknown> = {}, calendar: Record<string, unknown> = {}) =>
    oneBureauScheduler({ start, schedule, calendar, batches: batchProgressOf(db) });

  const sendDates = (calls: SendOptions[]) => calls.map((c) => c.businessDate);

  /** a batch of the business date; a sent one was sent at `sentAt` (default: that day, 17:00:05 Berlin in winter) */
  async function insertBatch(businessDate: string, state: string, sequence = 1, sentAt = `${businessDate}T16:00:05.000Z`): Promise<void> {
    const now = new Date().toISOString();
    await db('perso_batches').insert({
      business_date: businessDate, sequence, file_name: `BXISSUER_PERSO_${businessDate.replaceAll('-', '')}_${String(sequence).padStart(6, '0')}.dat.pgp`,
      state, created_at: now, updated_at: now, sent_at: state === 'sent' ? sentAt : null,
    });
  }

  describe('send at the cut-off on business days only', () => {
    it('sends at 17:00 Berlin on working days, not on the weekend nor on Christmas Day', async () => {
      // Thursday 2026-12-24 08:00 Berlin, through to Tuesday 2026-12-29 08:00
      const { sendJob, scheduler, runUntil } = setup('2026-12-24T07:00:00Z');
      await scheduler.activate();
      await runUntil('2026-12-29T07:00:00Z');
      assert.deepEqual(sendDates(sendJob.calls), ['2026-12-24', '2026-12-28']);
    });

    it('fires at 15:00 UTC in summer and 16:00 UTC in winter across the DST change', async () => {
      const { clock, sendJob, scheduler, tickAfter } = setup('2026-10-23T14:00:00Z'); // Friday, CEST
      await scheduler.activate();
      const firedAt: string[] = [];
      while (clock() < new Date('2026-10-27T00:00:00Z')) {
        const before = sendJob.calls.length;
        await tickAfter(MINUTE);
        if (sendJob.calls.length > before) firedAt.push(clock().toISOString());
      }
      assert.deepEqual(firedAt, ['2026-10-23T15:00:00.000Z', '2026-10-26T16:00:00.000Z']);
    });

    it('a late timer tick still fires the cut-off it passed, and only once', async () => {
      const { clock, sendJob, scheduler } = setup('2026-11-27T15:58:00Z');
      await scheduler.activate();
      clock.set('2026-11-27T16:03:30Z'); // the event loop was blocked over 17:00 Berlin
      scheduler.tick();
      clock.advance(MINUTE);
      scheduler.tick();
      await scheduler.settled();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-27']);
    });

    it('several cut-offs a day each fire', async () => {
      const { sendJob, scheduler, runUntil } = setup('2026-11-27T06:00:00Z', { sendAt: ['11:00', '17:00'] });
      await scheduler.activate();
      await runUntil('2026-11-27T20:00:00Z');
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-27', '2026-11-27']);
    });

    it('an extra business day (a Saturday) sends', async () => {
      const { sendJob, scheduler, runUntil } = setup('2026-11-28T06:00:00Z', {}, { extraBusinessDays: ['2026-11-28'] });
      await scheduler.activate();
      await runUntil('2026-11-29T20:00:00Z');
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-28']);
    });
  });

  describe('receive keeps polling', () => {
    it('polls every 15 minutes, weekends included, plus once at activation', async () => {
      const { receiveJob, scheduler, runUntil } = setup('2026-11-28T09:00:00Z'); // Saturday
      await scheduler.activate();
      await runUntil('2026-11-28T10:00:00Z');
      assert.equal(receiveJob.calls.length, 1 + 4);
    });

    it('does not overlap: a poll due while a receive runs is skipped, the next one runs', async () => {
      const { clock, receiveJob, scheduler, tickAt } = setup('2026-11-28T09:00:00Z');
      receiveJob.hold();
      await scheduler.activate(); // run 1 starts and hangs
      clock.set('2026-11-28T09:15:00Z');
      scheduler.tick(); // due, but run 1 is still going
      assert.equal(receiveJob.calls.length, 1);
      receiveJob.release();
      await scheduler.settled();
      await tickAt('2026-11-28T09:30:00Z');
      assert.equal(receiveJob.calls.length, 2);
    });
  });

  describe('send never overlaps and never loses a cut-off', () => {
    it('a cut-off during a running send runs right after it, once', async () => {
      await insertBatch('2026-11-26', 'sent');
      const { clock, sendJob, scheduler } = setup('2026-11-27T15:59:00Z', { catchUp: true });
      sendJob.hold();
      await scheduler.activate(); // catch-up for Thursday 2026-11-26? no: it has a sent batch
      assert.deepEqual(sendDates(sendJob.calls), []);
      clock.set('2026-11-27T16:00:00Z');
      scheduler.tick(); // 17:00 Berlin: send starts and hangs
      clock.set('2026-11-27T16:01:00Z');
      scheduler.tick();
      assert.equal(sendJob.calls.length, 1);
      sendJob.release();
      await scheduler.settled();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-27']);
    });

    it('a cut-off that falls during a catch-up run waits for it', async () => {
      const { clock, sendJob, scheduler } = setup('2026-11-27T15:59:00Z', { catchUp: true });
      sendJob.hold();
      await scheduler.activate(); // no batch sent yet for Thursday: catch-up starts and hangs
      clock.set('2026-11-27T16:00:00Z');
      scheduler.tick();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-26']);
      sendJob.release();
      await scheduler.settled();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-26', '2026-11-27']);
    });
  });

  describe('catch-up at activation', () => {
    it("sends the last business day's cut-off when no batch of that date was sent (Monday morning → Friday)", async () => {
      const { sendJob, scheduler } = setup('2026-11-30T08:00:00Z', { catchUp: true });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendJob.calls.map((c) => [c.businessDate, c.force]), [['2026-11-27', undefined]]);
    });

    it("sends today's when today's cut-off passed", async () => {
      const { sendJob, scheduler } = setup('2026-11-30T17:30:00Z', { catchUp: true });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-30']);
    });

    it('does nothing when that business date has a sent batch', async () => {
      await insertBatch('2026-11-27', 'sent');
      const { sendJob, scheduler } = setup('2026-11-29T12:00:00Z', { catchUp: true });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendJob.calls, []);
    });

    it('a batch sent before the cut-off (by hand, in the morning) does not count: the cut-off is caught up', async () => {
      await insertBatch('2026-11-27', 'sent', 1, '2026-11-27T09:00:00.000Z');
      const { sendJob, scheduler } = setup('2026-11-29T12:00:00Z', { catchUp: true });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-27']);
    });

    it('with two cut-offs a day, the later one missed is caught up', async () => {
      await insertBatch('2026-11-27', 'sent', 1, '2026-11-27T10:00:04.000Z'); // the 11:00 Berlin run
      const { sendJob, scheduler } = setup('2026-11-27T17:00:00Z', { catchUp: true, sendAt: ['11:00', '17:00'] });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-27']);
    });

    it('does nothing when catchUp is off', async () => {
      const { sendJob, scheduler } = setup('2026-11-30T08:00:00Z', { catchUp: false });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendJob.calls, []);
    });

    it('resumes unfinished batches with one resume-only send run, even when catch-up is off', async () => {
      await insertBatch('2026-11-26', 'sent');
      await insertBatch('2026-11-26', 'encrypted', 2);
      const { sendJob, scheduler } = setup('2026-11-27T10:00:00Z', { catchUp: false });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendJob.calls.map((c) => [c.businessDate, c.force, c.resumeOnly]), [['2026-11-26', undefined, true]]);
    });

    it('resume and catch-up are one run', async () => {
      await insertBatch('2026-11-26', 'sent');
      await insertBatch('2026-11-26', 'uploaded', 2);
      const { sendJob, scheduler } = setup('2026-11-27T18:00:00Z', { catchUp: true });
      await scheduler.activate();
      await scheduler.settled();
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-27']);
      assert.equal(sendJob.calls[0]!.resumeOnly, undefined, 'a catch-up also sends what is marked');
    });
  });

  describe('retry of a failed send', () => {
    it('tries again after 1, 2, 4 minutes while it fails for a passing reason, then stops retrying', async () => {
      const { sendJob, scheduler, tickAt } = setup('2026-11-27T15:59:00Z');
      await scheduler.activate();
      sendJob.fail = new TransientError('another runner holds the send lease');
      await tickAt('2026-11-27T16:00:00Z'); // cut-off: fails
      await tickAt('2026-11-27T16:00:50Z');
      assert.equal(sendJob.calls.length, 1, 'not before the delay');
      await tickAt('2026-11-27T16:01:00Z'); // retry 1 fails
      await tickAt('2026-11-27T16:03:00Z'); // retry 2 fails
      assert.equal(sendJob.calls.length, 3);
      sendJob.fail = undefined;
      await tickAt('2026-11-27T16:07:00Z'); // retry 3 succeeds
      await tickAt('2026-11-27T17:00:00Z');
      assert.deepEqual(sendDates(sendJob.calls), ['2026-11-27', '2026-11-27', '2026-11-27', '2026-11-27']);
    });

    it('does not retry a permanent failure (a wrong key will not fix itself)', async () => {
      const { sendJob, scheduler, tickAt } = setup('2026-11-27T15:59:00Z');
      await scheduler.activate();
      sendJob.fail = new PermanentError('the bureau key has expired');
      await tickAt('2026-11-27T16:00:00Z');
      await tickAt('2026-11-27T20:00:00Z');
      assert.equal(sendJob.calls.length, 1);
    });
  });

  describe('deactivation', () => {
    it('aborts the running jobs, waits for them, and starts nothing after', async () => {
      const { clock, sendJob, receiveJob, scheduler, tickAt } = setup('2026-11-27T15:59:00Z');
      receiveJob.hold();
      await scheduler.activate();
      clock.set('2026-11-27T16:00:00Z');
      sendJob.hold();
      scheduler.tick();
      const signals = [sendJob.calls[0]!.signal!, receiveJob.calls[0]!.signal!];
      await scheduler.deactivate('test');
      assert.deepEqual(signals.map((s) => s.aborted), [true, true]);
      await tickAt('2026-11-30T16:00:00Z');
      assert.equal(sendJob.calls.length, 1);
      assert.equal(receiveJob.calls.length, 1);
    });
  });
});

describe('schedule plan', () => {
  const config = testConfig({ calendar: { holidays: 'DE' } });
  const plan = makeSchedulePlan(makeCalendar(config.calendar), config.schedule);

  it('lists the cut-offs of a window with why a day is not a business day', () => {
    const slots = plan.sendSlotsBetween(new Date('2026-12-24T00:00:00Z'), new Date('2026-12-27T23:00:00Z'));
    assert.deepEqual(slots.map((s) => [s.date, s.at.toISOString(), s.notBusiness]), [
      ['2026-12-24', '2026-12-24T16:00:00.000Z', null],
      ['2026-12-25', '2026-12-25T16:00:00.000Z', 'holiday: Christmas Day (DE)'],
      ['2026-12-26', '2026-12-26T16:00:00.000Z', 'Saturday'],
      ['2026-12-27', '2026-12-27T16:00:00.000Z', 'Sunday'],
    ]);
  });

  it('the last cut-off before an instant is on the last business day', () => {
    assert.equal(plan.lastCutOff(new Date('2026-12-28T10:00:00Z')).date, '2026-12-24');
    assert.equal(plan.lastCutOff(new Date('2026-12-28T16:00:00Z')).date, '2026-12-28');
    assert.equal(plan.lastCutOff(new Date('2026-12-28T15:59:59Z')).at.toISOString(), '2026-12-24T16:00:00.000Z');
    const twice = makeSchedulePlan(makeCalendar(config.calendar), { ...config.schedule, sendAt: ['17:00', '11:00'] });
    assert.equal(twice.lastCutOff(new Date('2026-12-28T12:00:00Z')).at.toISOString(), '2026-12-28T10:00:00.000Z');
    assert.equal(twice.lastCutOff(new Date('2026-12-28T09:00:00Z')).at.toISOString(), '2026-12-24T16:00:00.000Z');
  });

  it('receive polls on multiples of the interval from midnight in the zone', () => {
    assert.equal(plan.receiveDueBetween(new Date('2026-11-28T09:00:00Z'), new Date('2026-11-28T09:01:00Z')), false);
    assert.equal(plan.receiveDueBetween(new Date('2026-11-28T09:14:00Z'), new Date('2026-11-28T09:15:00Z')), true);
    assert.equal(plan.receiveDueBetween(new Date('2026-11-28T09:01:00Z'), new Date('2026-11-28T09:16:00Z')), true, 'a window as long as the interval');
  });
});
