import assert from 'node:assert/strict';
import { makeMetrics } from '../../src/daemon/metrics.js';
import { finishRun, startRun } from '../../src/db/runs.js';
import { silentLogger } from '../../src/log.js';
import { describeEachDatabase } from '../helpers/db.js';
import { sample } from '../helpers/metrics.js';

/**
 * bx_job_last_success_timestamp_seconds after a restart or a failover: it was kept in memory only, so
 * it was missing until the next success, and a bureau whose sends kept failing from then on never
 * fired the stale-send rule (docs/operations.md). It is now read from the run history at the first
 * scrape; a success of this process that is later wins.
 */
describeEachDatabase('the last-success gauge after a restart', (ctx) => {
  const run = async (job: string, outcome: 'ok' | 'partial' | 'failed', finishedAt: string) => {
    const id = await startRun(ctx().db, { job, trigger: 'schedule', reason: 'test', runner: 'host:1:ab', startedAt: finishedAt });
    await finishRun(ctx().db, id, { outcome, finishedAt, durationMs: 1000 });
  };
  const seconds = (iso: string) => Date.parse(iso) / 1000;

  it('shows each job\'s last ok or partial run of the history, per bureau; a failure after it does not move it', async () => {
    await ctx().db('job_runs').delete();
    await run('send', 'ok', '2026-12-01T16:00:05.000Z');
    await run('send', 'failed', '2026-12-02T16:00:05.000Z');
    await run('send:EMB01', 'partial', '2026-12-02T10:00:07.000Z');
    await run('send:GONE01', 'ok', '2026-12-02T10:00:07.000Z');
    await run('receive', 'ok', '2026-12-03T09:15:00.000Z');
    const metrics = makeMetrics({ db: ctx().db, log: silentLogger, defaultMetrics: false, bureaus: ['BUREAU01', 'EMB01'] });
    const text = await metrics.registry.metrics();
    assert.equal(sample(text, 'bx_job_last_success_timestamp_seconds{job="send",bureau="BUREAU01"}'), seconds('2026-12-01T16:00:05.000Z'));
    assert.equal(sample(text, 'bx_job_last_success_timestamp_seconds{job="send",bureau="EMB01"}'), seconds('2026-12-02T10:00:07.000Z'));
    assert.equal(sample(text, 'bx_job_last_success_timestamp_seconds{job="receive"}'), seconds('2026-12-03T09:15:00.000Z'));
    assert.doesNotMatch(text, /GONE01/, 'a bureau no longer configured has no series');
  });

  it('a success of this process after the history\'s is kept, at every scrape', async () => {
    await ctx().db('job_runs').delete();
    await run('receive', 'ok', '2026-12-03T09:15:00.000Z');
    const metrics = makeMetrics({ db: ctx().db, log: silentLogger, defaultMetrics: false, bureaus: ['BUREAU01'] });
    const finishedAt = new Date('2026-12-04T09:15:00.000Z');
    metrics.recordReceive({ job: 'receive', trigger: 'schedule', startedAt: finishedAt, finishedAt, durationMs: 1, result: { applied: [], quarantined: [], duplicates: [], anomalies: 0 } } as never);
    for (let i = 0; i < 2; i++) {
      assert.equal(sample(await metrics.registry.metrics(), 'bx_job_last_success_timestamp_seconds{job="receive"}'), seconds('2026-12-04T09:15:00.000Z'));
    }
  });
});
