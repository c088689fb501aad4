import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';
import { listRuns, startRun, finishRun } from '../../src/db/runs.js';
import { statusSummary } from '../../src/db/status-summary.js';
import { makeStatusData } from '../../src/web/status-data.js';
import { describeEachDatabase } from '../helpers/db.js';

/** BUREAU01 (the first: its runs are `send`) at 17:00, EMB01 at 11:00 and 15:30. */
const config = configSchema.parse({
  issuer: { code: 'BXISSUER' },
  schedule: { timezone: 'Europe/Berlin', sendAt: ['17:00'] },
  calendar: { holidays: 'DE' },
  bureaus: [{ code: 'BUREAU01', name: 'Processor bureau' }, { code: 'EMB01', name: 'Embossing partner', sendAt: ['15:30', '11:00'] }],
  routing: { default: 'BUREAU01' },
});

describeEachDatabase('status and history per bureau (status page data, status summary, history filter)', (ctx) => {
  before(async () => {
    const { db } = ctx();
    const now = '2026-11-26T09:00:00.000Z';
    const batch = (bureau: string | null, sequence: number, state: string) => ({
      bureau_code: bureau, business_date: '2026-11-26', sequence, file_name: `${bureau ?? 'OLD'}_${sequence}.pgp`, state,
      created_at: now, updated_at: now, sent_at: state === 'sent' ? now : null,
    });
    // a batch from before several bureaus (no code) is the first bureau's
    await db('perso_batches').insert([
      batch(null, 1, 'sent'), batch('BUREAU01', 2, 'claimed'), batch('EMB01', 1, 'sent'), batch('EMB01', 2, 'encrypted'), batch('EMB01', 3, 'uploaded'),
    ]);
    const run = async (job: string, startedAt: string, outcome: 'ok' | 'failed', error?: string) => {
      const id = await startRun(db, { job, trigger: 'schedule', reason: 'cut-off', runner: 'host:1:a', startedAt });
      await finishRun(db, id, { outcome, finishedAt: startedAt, durationMs: 5, ...(error ? { error } : {}) });
    };
    await run('send', '2026-11-25T16:00:00.000Z', 'ok');
    await run('send:EMB01', '2026-11-26T10:00:00.000Z', 'failed', 'connect ECONNREFUSED 10.0.0.9:22');
    await run('receive', '2026-11-26T10:05:00.000Z', 'ok');
  });

  it('the status page has one row per bureau: its cut-offs, next cut-off, last send, unsent batches by state; an alert names the failing bureau', async () => {
    const data = makeStatusData({ db: ctx().db, config, clock: () => new Date('2026-11-26T12:00:00Z') }); // Thursday 13:00 Berlin
    const s = await data.status();
    assert.deepEqual(s.bureaus.map((b) => [b.code, b.name, b.job, b.sendAt, b.nextCutOff?.time, b.lastSend?.outcome, b.unsent, b.batches]), [
      ['BUREAU01', 'Processor bureau', 'send', ['17:00'], '17:00', 'ok', 1, { claimed: 1, encrypted: 0, uploaded: 0, sent: 1 }],
      ['EMB01', 'Embossing partner', 'send:EMB01', ['11:00', '15:30'], '15:30', 'failed', 2, { claimed: 0, encrypted: 1, uploaded: 1, sent: 1 }],
    ]);
    assert.deepEqual([s.schedule.nextCutOff?.bureau, s.schedule.nextCutOff?.at], ['EMB01', '2026-11-26T14:30:00.000Z'], 'the earliest of every bureau');
    assert.deepEqual(s.unfinishedBatches.map((b) => [b.bureau, b.state]), [['BUREAU01', 'claimed'], ['EMB01', 'encrypted'], ['EMB01', 'uploaded']]);
    assert.deepEqual(s.alerts.filter((a) => a.kind === 'failure').map((a) => a.message), ['last send run for bureau EMB01 failed: connect ECONNREFUSED 10.0.0.9:22']);
    assert.equal(s.lastRuns.send?.job, 'send:EMB01', "the latest of every bureau's sends");
  });

  it("status: each bureau's batches by state, or one bureau's alone", async () => {
    const { db } = ctx();
    const all = await statusSummary(db, 10, { bureaus: ['BUREAU01', 'EMB01'] });
    assert.deepEqual(all.bureaus.map((b) => [b.bureau, b.unsent, b.batches.sent]), [['BUREAU01', 1, 1], ['EMB01', 2, 1]]);
    assert.deepEqual(all.batches.map((b) => b.bureau).sort(), ['BUREAU01', 'BUREAU01', 'EMB01', 'EMB01', 'EMB01']);
    const first = await statusSummary(db, 10, { bureaus: ['BUREAU01', 'EMB01'], only: { code: 'BUREAU01', first: true } });
    assert.deepEqual(first.bureaus.map((b) => [b.bureau, b.unsent, b.batches.sent]), [['BUREAU01', 1, 1]]);
    assert.deepEqual(first.batches.map((b) => b.fileName).sort(), ['BUREAU01_2.pgp', 'OLD_1.pgp']);
    const emb = await statusSummary(db, 10, { bureaus: ['BUREAU01', 'EMB01'], only: { code: 'EMB01', first: false } });
    assert.deepEqual(emb.batches.map((b) => b.state).sort(), ['encrypted', 'sent', 'uploaded']);
  });

  it("history: `send` is every bureau's sends, `send:<CODE>` one bureau's", async () => {
    const { db } = ctx();
    assert.deepEqual((await listRuns(db, { job: 'send' })).map((r) => r.job), ['send:EMB01', 'send']);
    assert.deepEqual((await listRuns(db, { job: 'send:EMB01' })).map((r) => r.job), ['send:EMB01']);
    assert.deepEqual((await listRuns(db, { job: 'send', exact: true })).map((r) => r.job), ['send'], "the first bureau's alone");
    assert.deepEqual((await listRuns(db, { job: 'receive' })).map((r) => r.job), ['receive']);
  });
});
