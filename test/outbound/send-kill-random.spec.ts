// The send killed with SIGKILL at a random moment (a random time after it started, or once a random
// number of bytes reached the server), restarted and maybe killed again, then run to its end: every
// card is in exactly one delivered file, whatever the moments were.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { clearSendTables, contractNumbers, insertCards } from './fixtures.js';
import { contractIdsOf, decryptedRecords, filesIn, removeDir, sendConfig, type BureauKeys } from './harness.js';
import { assertDeliveredExactlyOnce, sendJobFor, useSshdAndBureauKeys, withSftp } from './job-harness.js';
import type { ChildSpec } from './send-child.js';

const CHILD = fileURLToPath(new URL('./send-child.ts', import.meta.url));
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

/**
 * Runs the send in a child process and SIGKILLs it at `at` (by then it may have finished: not killed).
 * A child that fails on its own is an error of the send: rejected with its output.
 */
function runAndKill(spec: ChildSpec, sshd: SshdServer, at: KillAt): Promise<ChildEnd> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, BX_SEND_CHILD: JSON.stringify(spec) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  let killer: NodeJS.Timeout | undefined;
  const kill = () => {
    clearInterval(killer);
    child.kill('SIGKILL');
  };
  child.on('message', (message: { started?: boolean }) => {
    if (!message.started) return;
    if ('afterMs' in at) killer = setTimeout(kill, at.afterMs);
    // polled: the kill lands a little after the bytes did, as a real one would
    else killer = setInterval(() => bytesOnServer(sshd) >= at.afterBytes && kill(), 5);
  });
  return new Promise<ChildEnd>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(killer);
      clearTimeout(killer);
      if (signal === 'SIGKILL') resolve({ killed: true, output });
      else if (code === 0) resolve({ killed: false, output });
      else reject(new Error(`the send failed on its own (exit ${code ?? signal}):\n${output}`));
    });
  });
}

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * Beyond assertDeliveredExactlyOnce: each card names the batch whose file holds it, and each batch
 * row agrees with its file on the server (size, SHA-256, record count, items).
 */
async function assertBatchesAgree(db: Knex, sshd: SshdServer, keys: BureauKeys): Promise<void> {
  const inbound = join(sshd.root, 'inbound');
  for (const name of filesIn(inbound)) {
    const file = join(inbound, name);
    const cards = contractIdsOf(decryptedRecords(keys, file));
    const batch = await db('perso_batches').where({ file_name: name }).first();
    assert.ok(batch, `a batch row for ${name}`);
    assert.equal(batch.state, 'sent');
    assert.equal(Number(batch.enc_size), statSync(file).size, `${name}: the recorded size is the delivered file's`);
    assert.equal(batch.enc_sha256, sha256Of(file), `${name}: the recorded SHA-256 is the delivered file's`);
    assert.equal(Number(batch.record_count), cards.length, `${name}: the recorded count is the file's`);
    const items = await db('batch_items as bi').join('card_contracts as c', 'c.id', 'bi.contract_id').where('bi.batch_id', batch.id)
      .orderBy('bi.record_number').select('c.contract_number', 'c.production_status', 'c.batch_id');
    assert.deepEqual(items.map((i: any) => i.contract_number), cards, `${name}: the batch's items are the file's cards, in order`);
    for (const item of items) {
      assert.equal(item.production_status, 'InProduction');
      assert.equal(Number(item.batch_id), Number(batch.id), `card ${item.contract_number} names the batch whose file holds it`);
    }
  }
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
        await clearSendTables(db);
        for (const name of readdirSync(join(sshd.root, 'inbound'))) rmSync(join(sshd.root, 'inbound', name), { force: true });
        const panKey = randomBytes(32);
        const cipher = new PanCipher(panKey);
        const base = withSftp(sendConfig(keys), sshd);
        const config: Config = { ...base, database, perso: { ...base.perso, maxCardsPerFile: 3 } };
        try {
          await insertCards(db, cipher, 1, CARD_COUNT);
          const spec: ChildSpec = { config, panKey: panKey.toString('base64'), businessDate: BUSINESS_DATE };
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
