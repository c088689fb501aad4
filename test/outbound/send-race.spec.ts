// Two sends of one bureau in two processes (a daemon's and a `send` by hand): started together, or the
// second once the first stood still past its lease (stopped, then woken). One waits or gives up cleanly;
// never a card in two files.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { waitFor } from '../helpers/crash-child.js';
import { describeEachDatabase } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { contractNumbers } from './fixtures.js';
import { removeDir, type BureauKeys } from './harness.js';
import { assertBatchesAgree, assertDeliveredExactlyOnce, childSendScene, sendJobFor, startSendProcess, useSshdAndBureauKeys, type ChildSendScene, type SendProcess } from './job-harness.js';

const BUSINESS_DATE = '2026-11-26';
const CARD_COUNT = 7;
const CARDS = contractNumbers(1, CARD_COUNT);
/** the shortest lease the config takes: the stopped send loses it within a test's time */
const LEASE_TTL_SECONDS = 5;

/** A send that ended: on its own (exit 0), or refused or stopped with the lease's clear error. */
async function endedCleanly(send: SendProcess, who: string): Promise<'finished' | 'gave up'> {
  const { code, signal, output } = await send.ended;
  if (code === 0) return 'finished';
  assert.equal(signal, null, `${who} was killed (${signal}):\n${output}`);
  // SQLite: a send that met the other's open transaction for longer than the busy timeout (5 s) gives
  // up before it took the lease or claimed anything
  assert.match(output, /another runner holds the send lease|the send lease was lost; another runner may continue|database is locked/, `${who} failed with another error:\n${output}`);
  return 'gave up';
}

describe('two sends of one bureau at once, in two processes', () => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  useSshdAndBureauKeys((started) => {
    ({ sshd, keys } = started);
  });

  describeEachDatabase('send race', (ctx) => {
    /** A scene: the cards Marked, an empty server, and the child's spec. */
    const setUp = () => childSendScene(ctx().db, ctx().database, { sshd, keys }, {
      cards: CARD_COUNT, maxCardsPerFile: 3, businessDate: BUSINESS_DATE, daemon: { leaseTtlSeconds: LEASE_TTL_SECONDS },
    });

    /** Whatever the two left undone, one more send finishes; then every card is in exactly one file. */
    const finishAndCheck = async ({ db, cipher, config }: ChildSendScene) => {
      await sendJobFor(db, cipher, config, sshd).run({ businessDate: BUSINESS_DATE });
      await assertDeliveredExactlyOnce(db, sshd, keys, config, CARDS);
      await assertBatchesAgree(db, sshd, keys);
    };

    it('started together (the second a random moment after the first): one sends, the other gives up naming the lease', async function () {
      this.timeout(300_000);
      const outcomes: string[] = [];
      await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 3000 }), async (gapMs) => {
        const scene = await setUp();
        try {
          const first = startSendProcess(scene.spec);
          await first.started.catch(() => undefined);
          await new Promise((r) => setTimeout(r, gapMs));
          const second = startSendProcess(scene.spec);
          const ends = [await endedCleanly(first, 'the first send'), await endedCleanly(second, 'the second send')];
          outcomes.push(`${gapMs} ms: ${ends.join(', ')}`);
          assert.ok(ends.includes('finished'), 'one of them sent');
          await finishAndCheck(scene);
        } finally {
          removeDir(scene.config.workDir);
        }
      }), { numRuns: Number(process.env.BX_RACE_RUNS ?? 2), endOnFailure: true });
      if (process.env.BX_RACE_VERBOSE) console.log(outcomes.join('\n'));
    });

    it('the first stands still (SIGSTOP) past its lease at a random moment, a second takes over, then the first wakes: it stops at its next step, no card twice', async function () {
      this.timeout(300_000);
      const outcomes: string[] = [];
      await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 4000 }), async (stopAfterMs) => {
        const scene = await setUp();
        try {
          const first = startSendProcess(scene.spec);
          await first.started.catch(() => undefined);
          await new Promise((r) => setTimeout(r, stopAfterMs));
          first.child.kill('SIGSTOP');
          // its lease runs out on the database's clock while it stands still
          await waitFor('the stopped send\'s lease to run out', async () =>
            (await scene.db('leases').where('expires_at', '>', Date.now() - 1000).first('name')) === undefined
            || (await scene.db('leases').count({ n: '*' }).first())!.n === 0, 60_000);
          await new Promise((r) => setTimeout(r, 1500)); // past the expiry on any clock here
          const second = startSendProcess(scene.spec);
          await second.started.catch(() => undefined);
          await new Promise((r) => setTimeout(r, 1000));
          first.child.kill('SIGCONT');
          const ends = [await endedCleanly(first, 'the stopped send'), await endedCleanly(second, 'the second send')];
          outcomes.push(`stopped after ${stopAfterMs} ms: ${ends.join(', ')}`);
          await finishAndCheck(scene);
        } finally {
          removeDir(scene.config.workDir);
        }
      }), { numRuns: Number(process.env.BX_RACE_RUNS ?? 2), endOnFailure: true });
      if (process.env.BX_RACE_VERBOSE) console.log(outcomes.join('\n'));
    });
  });
});
