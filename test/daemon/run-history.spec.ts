import assert from 'node:assert/strict';
import { makeJobRunner } from '../../src/daemon/job-runner.js';
import { makeRunHistory, receiveRunCounts, sendRunCounts, triggerOf } from '../../src/daemon/run-history.js';
import { listRuns, startRun } from '../../src/db/runs.js';
import { TransientError } from '../../src/errors.js';
import { everyBureauJob, type ReceiveOptions, type ReceiveResult, type SendOptions, type SendResult } from '../../src/jobs.js';
import { mergeReceiveResults } from '../../src/inbound/receive-bureau.js';
import { silentLogger } from '../../src/log.js';
import { describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

// a Luhn-valid test PAN, as an error message from a broken input might carry it
const PAN = '4111111111111111';

describeEachDatabase('run history (job_runs) through the job runner', (ctx) => {
  afterEach(() => ctx().db('job_runs').delete());

  function runners(runner = 'host-a:100:aaaa') {
    const history = makeRunHistory({ db: ctx().db, runner, log: silentLogger });
    const clock = () => new Date();
    return {
      send: (run: (o: SendOptions) => Promise<SendResult>) =>
        makeJobRunner<SendOptions, SendResult>({ name: 'send', run, log: silentLogger, clock, history: { record: history, counts: sendRunCounts } }),
      receive: (run: (o: ReceiveOptions) => Promise<ReceiveResult>) =>
        makeJobRunner<ReceiveOptions, ReceiveResult>({ name: 'receive', run, log: silentLogger, clock, history: { record: history, counts: receiveRunCounts } }),
    };
  }

  it('records a send with its trigger, business date, counts, files and outcome', async () => {
    const send = runners().send(async () => ({
      batches: [{ fileName: 'F1.pgp', records: 3, state: 'sent' }, { fileName: 'F2.pgp', records: 2, state: 'sent' }],
      cardsSent: 5, invalid: [], invalidTotal: 0,
    }));
    await send.trigger('cut-off 16:00', { businessDate: '2026-12-03' });
    const [run] = await listRuns(ctx().db);
    assert.ok(run);
    assert.deepEqual(
      { job: run.job, trigger: run.trigger, reason: run.reason, businessDate: run.businessDate, outcome: run.outcome, cardsSent: run.cardsSent, files: run.files, runner: run.runner, error: run.error },
      { job: 'send', trigger: 'schedule', reason: 'cut-off 16:00', businessDate: '2026-12-03', outcome: 'ok', cardsSent: 5, files: ['F1.pgp', 'F2.pgp'], runner: 'host-a:100:aaaa', error: null },
    );
    assert.ok(run.finishedAt && run.finishedAt >= run.startedAt && run.durationMs !== null);
  });

  it('a receive with a quarantined report is partial; a send with Invalid cards too', async () => {
    const { send, receive } = runners();
    await receive(async () => ({ applied: [{ remoteName: 'R1.xml.rsa', rejections: 1, shipments: 2, stockItems: 0, anomalies: 0 }], quarantined: [{ remoteName: 'R2.xml.rsa', reason: 'bad' }], duplicates: 0 })).trigger('poll');
    await send(async () => ({ batches: [], cardsSent: 0, invalid: [{ contractNumber: '1', plasticId: '1', reason: 'x' }], invalidTotal: 1 })).trigger('manual');
    const [s, r] = await listRuns(ctx().db);
    assert.deepEqual([s!.job, s!.trigger, s!.outcome, s!.invalid], ['send', 'manual', 'partial', 1]);
    assert.deepEqual([r!.job, r!.outcome, r!.reportsApplied, r!.reportsQuarantined, r!.files], ['receive', 'partial', 1, 1, ['R1.xml.rsa', 'R2.xml.rsa']]);
  });

  it('a receive over two bureaus, one failing: failed, naming it, and the other bureau\'s applied report still counted', async () => {
    const applied = { applied: [{ remoteName: 'R1.xml.rsa', rejections: 1, shipments: 0, stockItems: 0, anomalies: 0 }], quarantined: [], duplicates: 0 };
    const bureaus = everyBureauJob<ReceiveOptions, ReceiveResult>([
      { code: 'BUREAU01', job: { run: async () => applied } },
      { code: 'EMB01', job: { run: async () => { throw new TransientError('connect ECONNREFUSED'); } } },
    ], mergeReceiveResults);
    await runners().receive((o) => bureaus.run(o)).trigger('poll');
    const [run] = await listRuns(ctx().db);
    assert.deepEqual([run!.outcome, run!.reportsApplied, run!.files], ['failed', 1, ['R1.xml.rsa']]);
    assert.match(run!.error!, /bureau EMB01: connect ECONNREFUSED/);
  });

  it('a failed run keeps its error scrubbed: never the PAN', async () => {
    await runners().send(async () => { throw new TransientError(`record 7: field pan ${PAN} refused`); }).trigger('retry 2 of cut-off 16:00');
    const [run] = await listRuns(ctx().db);
    assert.equal(run!.outcome, 'failed');
    assert.equal(run!.trigger, 'retry');
    assert.match(run!.error!, /record 7: field pan 411111\*+1111 refused/);
    const raw = JSON.stringify(await ctx().db('job_runs').select());
    assert.ok(!raw.includes(PAN), 'no full PAN stored');
  });

  it('a not-business-day send is skipped; a trigger during a run is recorded as skipped', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const send = runners().send(async (o) => {
      if (o.businessDate === '2026-12-05') return { batches: [], cardsSent: 0, invalid: [], notBusinessDay: 'Saturday' };
      await held;
      return { batches: [], cardsSent: 0, invalid: [] };
    });
    await send.trigger('cut-off 16:00', { businessDate: '2026-12-05' });
    const going = send.trigger('catch-up', { businessDate: '2026-12-04' });
    assert.equal(await send.trigger('cut-off 16:00', { businessDate: '2026-12-04' }), undefined);
    release();
    await going;
    // the skipped trigger is written in the background
    await waitFor('three finished runs', async () => (await listRuns(ctx().db)).filter((r) => r.outcome !== 'running').length === 3);
    const rows = await listRuns(ctx().db);
    assert.deepEqual(rows.map((r) => [r.trigger, r.outcome]).sort(), [['catch-up', 'ok'], ['schedule', 'skipped'], ['schedule', 'skipped']]);
    assert.ok(rows.some((r) => r.error === 'the previous run was still going'));
  });

  it("a run left 'running' by a dead runner becomes 'interrupted' when the next run of the job ends well", async () => {
    const db = ctx().db;
    const dead = await startRun(db, { job: 'send', trigger: 'schedule', reason: 'cut-off 16:00', runner: 'host-b:200:dead', startedAt: new Date(Date.now() - 60_000).toISOString() });
    const otherJob = await startRun(db, { job: 'receive', trigger: 'schedule', reason: 'poll', runner: 'host-b:200:dead', startedAt: new Date(Date.now() - 60_000).toISOString() });
    // a failed run proves nothing (it may not have held the lease): the row stays running
    await runners().send(async () => { throw new TransientError('another runner holds the send lease'); }).trigger('manual');
    assert.equal((await listRuns(db)).find((r) => r.id === dead)!.outcome, 'running');
    await runners().send(async () => ({ batches: [], cardsSent: 0, invalid: [] })).trigger('manual');
    const rows = await listRuns(db);
    const closed = rows.find((r) => r.id === dead)!;
    assert.equal(closed.outcome, 'interrupted');
    assert.ok(closed.finishedAt);
    assert.equal(rows.find((r) => r.id === otherJob)!.outcome, 'running', 'only the same job is closed');
  });

  it('filters by job and start time, latest first, limited', async () => {
    const db = ctx().db;
    for (const [job, at] of [['send', '2026-12-01T10:00:00.000Z'], ['receive', '2026-12-02T10:00:00.000Z'], ['send', '2026-12-03T10:00:00.000Z']] as const) {
      await startRun(db, { job, trigger: 'manual', reason: 'manual', runner: 'r', startedAt: at });
    }
    assert.deepEqual((await listRuns(db, { job: 'send' })).map((r) => r.startedAt), ['2026-12-03T10:00:00.000Z', '2026-12-01T10:00:00.000Z']);
    assert.deepEqual((await listRuns(db, { since: '2026-12-02T00:00:00.000Z' })).map((r) => r.job), ['send', 'receive']);
    assert.equal((await listRuns(db, { limit: 1 })).length, 1);
  });

  it("send and receive name every bureau's runs of the job, unless exact; a bureau's name, its runs alone", async () => {
    const db = ctx().db;
    const jobs = ['send', 'send:EMB01', 'receive', 'receive:EMB01', 'sendx', 'receivex'];
    for (const [i, job] of jobs.entries()) await startRun(db, { job, trigger: 'manual', reason: 'manual', runner: 'r', startedAt: `2026-12-0${i + 1}T10:00:00.000Z` });
    const names = async (job: string, exact?: boolean) => (await listRuns(db, { job, exact })).map((r) => r.job).sort();
    assert.deepEqual(await names('send'), ['send', 'send:EMB01']);
    assert.deepEqual(await names('receive'), ['receive', 'receive:EMB01']);
    assert.deepEqual(await names('receive', true), ['receive']);
    assert.deepEqual(await names('receive:EMB01'), ['receive:EMB01']);
  });
});

describe('run triggers', () => {
  it('names the kind of trigger behind the runner reason', () => {
    assert.deepEqual(['cut-off 16:00', 'poll', 'start', 'resume', 'catch-up', 'resume and catch-up', 'retry 3 of catch-up', 'manual'].map(triggerOf),
      ['schedule', 'schedule', 'schedule', 'catch-up', 'catch-up', 'catch-up', 'retry', 'manual']);
  });
});
