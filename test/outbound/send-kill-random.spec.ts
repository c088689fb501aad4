// The send killed with SIGKILL at a random moment (a random time after it started, or once a random
// number of bytes reached the server), restarted and maybe killed again, then run to its end: every
// card is in exactly one delivered file, whatever the moments were.
import { strict as assert } from 'node:assert';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describeEachDatabase } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { contractNumbers } from './fixtures.js';
import { filesIn, removeDir, type BureauKeys } from './harness.js';
import { assertBatchesAgree, assertDeliveredExactlyOnce, childSendScene, sendJobFor, startSendProcess, useSshdAndBureauKeys } from './job-harness.js';
import type { ChildSpec } from './send-child.js';

const BUSINESS_DATE = '2026-11-26';
/** three batches (3 + 3 + 1): a kill can fall in any batch's steps, or between two of them */
const CARD_COUNT = 7;
const CARDS = contractNumbers(1, CARD_COUNT);

/** When the running send is killed: a time after it told us it started, or once the server holds that many bytes of our files. */
export type KillAt = { afterMs: number } | { afterBytes: number };

/** How one child run ended. */
interface ChildEnd {
  killed: boolean;
  output: string;
}

/** The bytes of our files on the server now (`.part` and final names). */
function bytesOnServer(sshd: SshdServer): number {
  const dir = join(sshd.root, 'inbound');
  return filesIn(dir).reduce((n, name) => n + (statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0), 0);
}

/** Runs the send in a child process and SIGKILLs it at `at` (by then it may have finished: not killed); a failure of its own rejects. */
async function runAndKill(spec: ChildSpec, sshd: SshdServer, at: KillAt): Promise<ChildEnd> {
  const send = startSendProcess(spec);
  let killer: NodeJS.Timeout | undefined;
  const kill = () => {
    clearInterval(killer);
    send.child.kill('SIGKILL');
  };
  void send.started.then(() => {
    if ('afterMs' in at) killer = setTimeout(kill, at.afterMs);
    // polled: the kill lands a little after the bytes did, as a real one would
    else killer = setInterval(() => bytesOnServer(sshd) >= at.afterBytes && kill(), 5);
  }, () => undefined);
  const { code, signal, output } = await send.ended;
  clearInterval(killer);
  clearTimeout(killer);
  if (signal === 'SIGKILL') return { killed: true, output };
  if (code === 0) return { killed: false, output };
  throw new Error(`the send failed on its own (exit ${code ?? signal}):\n${output}`);
}

/** The child sends its three files (about 7,000 bytes) within about 6 s of its start on this machine. */
const killAt: fc.Arbitrary<KillAt> = fc.oneof(
  fc.record({ afterMs: fc.integer({ min: 0, max: 5000 }) }),
  fc.record({ afterBytes: fc.integer({ min: 1, max: 7000 }) }),
);

describe('send job killed with SIGKILL at random moments, then restarted', () => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  useSshdAndBureauKeys((started) => {
    ({ sshd, keys } = started);
  });

  describeEachDatabase('send random kill -9', (ctx) => {
    it('whatever the moments of one or two kills, the run after them delivers every card exactly once and the rows agree with the files', async function () {
      this.timeout(600_000);
      const { db, database } = ctx();
      const where: string[] = [];
      await fc.assert(fc.asyncProperty(fc.array(killAt, { minLength: 1, maxLength: 2 }), async (kills) => {
        const { cipher, config, spec } = await childSendScene(db, database, { sshd, keys }, { cards: CARD_COUNT, maxCardsPerFile: 3, businessDate: BUSINESS_DATE });
        try {
          for (const at of kills) {
            const end = await runAndKill(spec, sshd, at);
            const states = (await db('perso_batches').orderBy('id').select('state')).map((b: any) => b.state).join(',');
            where.push(`${JSON.stringify(at)} → ${end.killed ? 'killed' : 'finished'} [${states}] server: ${filesIn(join(sshd.root, 'inbound')).join(',')}`);
            // as if the dead run's TTL had run out (the lease suites test the expiry itself)
            await db('leases').update({ expires_at: Date.now() - 1 });
          }
          await sendJobFor(db, cipher, config, sshd).run({ businessDate: BUSINESS_DATE });
          await assertDeliveredExactlyOnce(db, sshd, keys, config, CARDS);
          await assertBatchesAgree(db, sshd, keys);
          assert.deepEqual(await db('leases').select('name'), [], 'no lease left but the dead runs\' (expired, taken and released)');
        } finally {
          removeDir(config.workDir);
        }
      }), { numRuns: Number(process.env.BX_KILL_RUNS ?? 3), endOnFailure: true });
      // what the runs met, for whoever reads the output of a failure or a verbose run
      if (process.env.BX_KILL_VERBOSE) console.log(where.join('\n'));
    });
  });
});
