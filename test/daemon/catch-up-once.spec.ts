import assert from 'node:assert/strict';
import { makeDaemon } from '../../src/daemon/daemon.js';
import { finishRun, startRun } from '../../src/db/runs.js';
import { silentLogger } from '../../src/log.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { manualClock, recordingReceiveJob, recordingSendJob } from './fakes.js';
import { startActive } from './scheduler-harness.js';

/**
 * A cut-off whose send found no card to send leaves no batch. A restart (a deploy) or a lease taken
 * back after a database blip later that evening must not take it for a missed cut-off: that sent the
 * cards marked since then at once, in a file of its own, at every such restart.
 */
describeEachDatabase('catch-up after a cut-off that had nothing to send', (ctx) => {
  afterEach(() => ctx().db('job_runs').delete());

  async function startAt(iso: string) {
    const send = recordingSendJob();
    const daemon = makeDaemon({
      db: ctx().db, config: testConfig({ calendar: { holidays: 'DE' }, schedule: { catchUp: true } }), log: silentLogger, clock: manualClock(iso),
      jobs: { send, receive: recordingReceiveJob() }, startTicker: () => ({ stop() {} }), leaseIntervalMs: 50,
    });
    await startActive(daemon);
    await daemon.stop('test over');
    return send.calls;
  }

  async function cutOffRun(reason: string, outcome: 'ok' | 'failed', startedAt = '2026-11-27T16:00:02.000Z') {
    const id = await startRun(ctx().db, { job: 'send', trigger: 'schedule', reason, runner: 'h:1:a', businessDate: '2026-11-27', startedAt });
    await finishRun(ctx().db, id, { outcome, finishedAt: '2026-11-27T16:00:03.000Z', durationMs: 900, cardsSent: 0 });
  }

  it("is not caught up when the cut-off's send ran and succeeded with nothing to send", async () => {
    await cutOffRun('cut-off 17:00', 'ok');
    assert.deepEqual(await startAt('2026-11-27T18:00:00Z'), []);
  });

  it('is caught up when that send failed, or ran before the cut-off, or only resumed', async () => {
    await cutOffRun('cut-off 17:00', 'failed');
    await cutOffRun('manual', 'ok', '2026-11-27T09:00:00.000Z');
    await cutOffRun('resume', 'ok');
    assert.deepEqual((await startAt('2026-11-27T18:00:00Z')).map((c) => c.businessDate), ['2026-11-27']);
  });
});
