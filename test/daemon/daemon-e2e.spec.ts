import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { clearSendTables, insertCards } from '../outbound/fixtures.js';
import type { BureauKeys } from '../outbound/harness.js';
import { assertDeliveredExactlyOnce, useSshdAndBureauKeys } from '../outbound/job-harness.js';
import { daemonChildren, getJson, waitUntil, type ChildPause } from './e2e-harness.js';

const CARDS = ['1001', '1002', '1003', '1004', '1005'];

describeEachDatabase('daemon as a child process (real sshd, gpg)', (ctx) => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  const panKey = randomBytes(32);
  const daemons = daemonChildren(() => ({ keys, sshd, database: ctx().database }), panKey);

  useSshdAndBureauKeys((started) => {
    ({ sshd, keys } = started);
  });
  beforeEach(async () => {
    await clearSendTables(ctx().db);
    // each test starts on a day whose cut-off was missed: an earlier test's send run would have served it
    await ctx().db('job_runs').delete();
    for (const name of readdirSync(join(sshd.root, 'inbound'))) rmSync(join(sshd.root, 'inbound', name), { force: true });
    await insertCards(ctx().db, new PanCipher(panKey), 1, CARDS.length);
  });
  afterEach(() => daemons.killAll());

  const markedCards = async () => (await ctx().db('card_contracts').where({ production_status: 'Marked' }).orderBy('id').select('contract_number')).map((r: { contract_number: string }) => r.contract_number);
  const batchStates = async () => (await ctx().db('perso_batches').select('state').orderBy('id')).map((r: { state: string }) => r.state);

  const daemon = (shutdownTimeoutSeconds: number, pause?: ChildPause, workDir?: string) => daemons.start({ shutdownTimeoutSeconds, pause, workDir });

  it('SIGTERM mid-batch: the batch finishes within the shutdown timeout, exit 0, nothing new claimed', async function () {
    this.timeout(60_000);
    // paused mid-batch until the signal arrives: the signal surely finds the batch half done
    const { child, config } = await daemon(20, { at: 'transferred', ms: 60_000, untilSignal: true });
    await child.waitForLog('test pause');
    const signalledAt = Date.now();
    child.process.kill('SIGTERM');
    const exit = await child.exited;
    assert.equal(exit.code, 0, child.output());
    assert.ok(exit.at - signalledAt < 20_000, 'within the shutdown timeout');
    assert.match(child.output(), /daemon stopped/);
    assert.deepEqual(await batchStates(), ['sent'], 'the interrupted batch reached its end; no new one was claimed after the signal');
    await assertDeliveredExactlyOnce(ctx().db, sshd, keys, { workDir: config.workDir } as any, CARDS.slice(0, 3));
    assert.deepEqual(await markedCards(), CARDS.slice(3), 'the rest wait, Marked, for the next run');
  });

  it('SIGTERM mid-upload, step too slow: exit 0 at the timeout; a restart completes the batch exactly once', async function () {
    this.timeout(90_000);
    const first = await daemon(1, { at: 'transferred', ms: 60_000 });
    await first.child.waitForLog('test pause');
    const signalledAt = Date.now();
    first.child.process.kill('SIGTERM');
    const exit = await first.child.exited;
    assert.equal(exit.code, 0, first.child.output());
    // the step pauses 60 s: an exit long before that is the 1 s shutdown timeout cutting it short
    assert.ok(exit.at - signalledAt < 30_000, `exited ${exit.at - signalledAt} ms after SIGTERM, timeout 1 s, step 60 s`);
    assert.match(first.child.output(), /shutdown timeout/);
    assert.deepEqual(await batchStates(), ['encrypted'], 'the file was uploaded but not yet recorded as uploaded');

    const second = await daemon(10, undefined, first.workDir);
    await waitUntil('the batches are sent', async () => {
      const states = await batchStates();
      return states.length > 0 && states.every((s) => s === 'sent') && (await markedCards()).length === 0;
    }, 60_000);
    second.child.process.kill('SIGTERM');
    assert.equal((await second.child.exited).code, 0, second.child.output());
    await assertDeliveredExactlyOnce(ctx().db, sshd, keys, { workDir: first.workDir } as any, CARDS);
  });
});

describeEachDatabase('two daemons on one database (failover)', (ctx) => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  const panKey = randomBytes(32);
  const daemons = daemonChildren(() => ({ keys, sshd, database: ctx().database }), panKey);

  // registered first, so it runs before the sshd is stopped
  after(() => daemons.killAll());
  useSshdAndBureauKeys(async (started) => {
    ({ sshd, keys } = started);
    await clearSendTables(ctx().db);
    await ctx().db('job_runs').delete();
    await insertCards(ctx().db, new PanCipher(panKey), 1, CARDS.length);
  });

  const daemon = (pause?: ChildPause, workDir?: string) => daemons.start({ shutdownTimeoutSeconds: 10, pause, workDir });

  it('one sends, the other waits; kill -9 the first, the second takes over and finishes exactly once', async function () {
    this.timeout(120_000);
    const a = await daemon({ at: 'transferred', ms: 120_000 });
    await a.child.waitForLog('test pause');
    // the standby shares the work folder, as a failover pair shares its volume
    const b = await daemon(undefined, a.workDir);
    await b.child.waitForLog('standby: another runner holds the lease');
    const [healthA, healthB] = await Promise.all([getJson(`${a.url}/healthz`), getJson(`${b.url}/healthz`)]);
    assert.equal(healthA.body.status.role, 'active');
    assert.deepEqual(healthA.body.lease, { held: true, holder: healthA.body.status.owner });
    assert.equal(healthB.status, 200, 'a standby is healthy');
    assert.equal(healthB.body.status.role, 'standby');
    assert.deepEqual(healthB.body.lease, { held: false, holder: healthA.body.status.owner }, 'the standby knows who is active');
    assert.doesNotMatch(b.child.output(), /run started/, 'the standby ran nothing');

    a.child.process.kill('SIGKILL');
    await a.child.exited;
    await waitUntil('b is active', async () => (await getJson(`${b.url}/healthz`)).body.status.role === 'active', 20_000);
    await waitUntil('every card sent', async () => {
      const states = (await ctx().db('perso_batches').select('state')).map((r: { state: string }) => r.state);
      const marked = await ctx().db('card_contracts').where({ production_status: 'Marked' }).first('id');
      return states.length > 0 && states.every((s) => s === 'sent') && marked === undefined;
    }, 60_000);
    b.child.process.kill('SIGTERM');
    assert.equal((await b.child.exited).code, 0, b.child.output());
    await assertDeliveredExactlyOnce(ctx().db, sshd, keys, { workDir: a.workDir } as any, CARDS);
  });
});
