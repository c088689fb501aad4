import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import { runUntilPaused, waitFor } from '../helpers/crash-child.js';
import { describeEachDatabase } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import type { ChildSpec, SendPausePoint } from './send-child.js';
import { inProductionEvents } from './fixtures.js';
import { contractsByStatus, filesIn, removeDir, type BureauKeys } from './harness.js';
import { assertDeliveredExactlyOnce, childSendScene, sendJobFor, useSshdAndBureauKeys } from './job-harness.js';

const CHILD = fileURLToPath(new URL('./send-child.ts', import.meta.url));
const BUSINESS_DATE = '2026-11-26';
/** two batches (3 + 2): the restart resumes the first and claims the second */
const CARDS = ['1001', '1002', '1003', '1004', '1005'];

/** What a test sees of a send killed at a point: the database, the outbox and the server. */
interface Scene {
  db: Knex;
  config: Config;
  sshd: SshdServer;
}

interface BatchRow {
  file_name: string;
  state: string;
  enc_sha256: string | null;
  enc_size: number | string | null;
  sent_at: string | null;
}

const batches = (db: Knex): Promise<BatchRow[]> => db('perso_batches').select('file_name', 'state', 'enc_sha256', 'enc_size', 'sent_at').orderBy('id');
const outbox = (s: Scene) => filesIn(join(s.config.workDir, 'outbox'));
const archive = (s: Scene) => filesIn(join(s.config.workDir, 'archive'));
const remote = (s: Scene) => filesIn(join(s.sshd.root, 'inbound'));
/** What is on the server besides the `.part` the upload during the claim may have written before the kill. */
const notPart = (s: Scene, fileName: string) => remote(s).filter((n) => n !== `${fileName}.part`);
const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The first (and only) batch at the moment of the kill, in `state`. */
async function onlyBatch(s: Scene, state: string): Promise<BatchRow> {
  const rows = await batches(s.db);
  assert.deepEqual(rows.map((r) => r.state), [state], 'one batch, in the state the process died in');
  return rows[0]!;
}

async function noCardSent(s: Scene): Promise<void> {
  assert.deepEqual(await contractsByStatus(s.db), { Marked: CARDS }, 'every card still Marked');
  assert.equal((await inProductionEvents(s.db)).size, 0, 'no card\'s history says InProduction');
}

/**
 * Each point: what to wait for before the kill (the child stands still there, but work it started
 * before may still finish), and the state the dead process must have left.
 */
const POINTS: Array<{ at: SendPausePoint; what: string; settle?(s: Scene): Promise<void>; found(s: Scene): Promise<void> }> = [
  {
    at: 'encrypting', what: 'claimed, its file half encrypted',
    // the claim commits while the first clear bytes wait at the pause
    settle: (s) => waitFor('the claim to commit', async () => (await batches(s.db)).length === 1),
    async found(s) {
      const batch = await onlyBatch(s, 'claimed');
      assert.equal(batch.enc_sha256, null);
      assert.deepEqual(outbox(s).filter((n) => n !== `${batch.file_name}.tmp`), [], 'no complete file in the outbox, at most the half-written .tmp');
      assert.deepEqual(notPart(s, batch.file_name), [], 'on the server, at most the .part of the upload during the claim');
      await noCardSent(s);
    },
  },
  {
    at: 'claimed', what: 'claimed, its file encrypted but not recorded',
    // the file built during the claim completes on its own
    settle: (s) => waitFor('the outbox file', async () => {
      const rows = await batches(s.db);
      return rows.length === 1 && outbox(s).join() === rows[0]!.file_name;
    }),
    async found(s) {
      const batch = await onlyBatch(s, 'claimed');
      assert.equal(batch.enc_sha256, null, 'the file is not recorded');
      assert.deepEqual(outbox(s), [batch.file_name]);
      assert.deepEqual(notPart(s, batch.file_name), [], 'on the server, at most the .part of the upload during the claim');
      await noCardSent(s);
    },
  },
  {
    at: 'encrypted', what: 'encrypted',
    async found(s) {
      const batch = await onlyBatch(s, 'encrypted');
      assert.deepEqual(outbox(s), [batch.file_name]);
      assert.equal(sha256Of(join(s.config.workDir, 'outbox', batch.file_name)), batch.enc_sha256, 'the recorded file is in the outbox');
      assert.deepEqual(notPart(s, batch.file_name), [], 'on the server, at most the .part of the upload during the claim');
      await noCardSent(s);
    },
  },
  {
    at: 'uploading', what: 'half uploaded',
    settle: (s) => waitFor('half of the file on the server', async () => {
      const [batch] = await batches(s.db);
      const part = join(s.sshd.root, 'inbound', `${batch?.file_name}.part`);
      return remote(s).length === 1 && statSync(part, { throwIfNoEntry: false })?.size === Math.floor(Number(batch!.enc_size) / 2);
    }),
    async found(s) {
      const batch = await onlyBatch(s, 'encrypted');
      assert.deepEqual(remote(s), [`${batch.file_name}.part`], 'only the partial upload, never the final name');
      assert.ok(statSync(join(s.sshd.root, 'inbound', `${batch.file_name}.part`)).size < Number(batch.enc_size));
      assert.deepEqual(outbox(s), [batch.file_name]);
      await noCardSent(s);
    },
  },
  {
    at: 'transferred', what: 'uploaded, not yet recorded',
    async found(s) {
      const batch = await onlyBatch(s, 'encrypted');
      assert.deepEqual(remote(s), [batch.file_name]);
      assert.equal(statSync(join(s.sshd.root, 'inbound', batch.file_name)).size, Number(batch.enc_size));
      assert.deepEqual(outbox(s), [batch.file_name]);
      await noCardSent(s);
    },
  },
  {
    at: 'uploaded', what: 'uploaded',
    async found(s) {
      const batch = await onlyBatch(s, 'uploaded');
      assert.deepEqual(remote(s), [batch.file_name]);
      assert.deepEqual(outbox(s), [batch.file_name]);
      await noCardSent(s);
    },
  },
  {
    at: 'confirming', what: 'inside the confirm transaction',
    async found(s) {
      const batch = await onlyBatch(s, 'uploaded');
      assert.equal(batch.sent_at, null, 'the confirm was rolled back');
      assert.deepEqual(remote(s), [batch.file_name]);
      assert.deepEqual(outbox(s), [], 'the file had moved to the archive before the transaction');
      assert.deepEqual(archive(s), [batch.file_name]);
      await noCardSent(s);
    },
  },
];

describe('send job killed with SIGKILL at each step, then restarted', () => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  // one sshd and one bureau key for the three databases
  useSshdAndBureauKeys((started) => {
    ({ sshd, keys } = started);
  });

  describeEachDatabase('send kill -9', (ctx) => {
    for (const point of POINTS) {
      it(`killed ${point.what} ('${point.at}'): the state is as it died; the restart delivers every card exactly once`, async function () {
        this.timeout(240_000);
        const { db, database } = ctx();
        const { cipher, config, spec: base } = await childSendScene(db, database, { sshd, keys }, { cards: CARDS.length, maxCardsPerFile: 3, businessDate: BUSINESS_DATE });
        const scene: Scene = { db, config, sshd };

        const spec: ChildSpec = { ...base, pauseAt: point.at };
        const child = await runUntilPaused(CHILD, { BX_SEND_CHILD: JSON.stringify(spec) }, point.at);
        await point.settle?.(scene);
        await child.kill();

        await point.found(scene);
        const leases = await db('leases').select('owner');
        assert.equal(leases.length, 1);
        assert.match(leases[0].owner, new RegExp(`:${child.pid}:`), 'the dead run still holds the send lease');
        // as if its TTL had run out (the lease suites test the expiry itself)
        await db('leases').update({ expires_at: Date.now() - 1 });

        const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: BUSINESS_DATE });
        assert.equal(result.cardsSent, CARDS.length);
        assert.equal(result.batches.length, 2, 'the first batch resumed, the second claimed');
        await assertDeliveredExactlyOnce(db, sshd, keys, config, CARDS);
        const history = await inProductionEvents(db);
        assert.deepEqual([...history.keys()], CARDS, 'every card\'s history says InProduction');
        for (const [card, events] of history) assert.equal(events.length, 1, `card ${card}: one InProduction event`);
        assert.deepEqual(outbox(scene), []);
        removeDir(config.workDir);
      });
    }
  });
});
