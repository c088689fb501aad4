// The bureau's server failing the send's upload: the connection dropped at any byte, the rename
// refused, its disk full, its files changed by someone else between our upload and our rename. The
// run fails with an error that names the file (or goes on when it safely can), and the next run
// delivers every card exactly once.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, createReadStream, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import fc from 'fast-check';
import { PermanentError, TransientError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { SendFaultPoint } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import type { RemoteSession, Transport } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { waitFor } from '../helpers/crash-child.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { userIds, type SshdServer } from '../helpers/sshd.js';
import { contractNumbers as ids, DATE, FIRST_FILE, insertCards } from './fixtures.js';
import { contractsByStatus } from './harness.js';
import { noUploadDuringClaim } from './mid-upload.js';
import { assertBatchesAgree, assertDeliveredExactlyOnce, remoteFiles, sendJobFor, useSendSuite } from './job-harness.js';

const cipher = new PanCipher(newPanKey());
/** one batch of this many cards: a file of some tens of KB, written to the server in many pieces */
const CARDS = 150;

/** A transport whose uploads drop the whole connection (sshd kills its session) once `offset` bytes of a file went through, once. */
function droppingAt(sshd: SshdServer, config: { sftp: Parameters<typeof makeSftpTransport>[0] }, offset: number, early: boolean): Transport & { dropped(): boolean } {
  const inner = makeSftpTransport(config.sftp, { log: silentLogger });
  let dropped = false;
  const counted = (source: Readable | string): Readable => {
    let bytes = 0;
    // small buffers: a byte is counted as the upload takes it, not when it is read ahead
    const counter = new Transform({
      readableHighWaterMark: 1024, writableHighWaterMark: 1024,
      transform(chunk: Buffer, _enc, done) {
        if (dropped || bytes + chunk.length < offset) {
          bytes += chunk.length;
          return done(null, chunk);
        }
        dropped = true;
        this.push(chunk.subarray(0, offset - bytes));
        // the rest never comes: the connection is gone
        sshd.killSessions();
      },
    });
    return (typeof source === 'string' ? createReadStream(source, { highWaterMark: 4096 }) : source).pipe(counter);
  };
  return {
    dropped: () => dropped,
    async connect() {
      const session = await inner.connect();
      return {
        ...session,
        // without the upload during the claim, the drop falls in the upload step's own
        uploadPart: early ? (source, dir, name) => session.uploadPart(counted(source), dir, name) : noUploadDuringClaim,
        uploadAtomic: (source, dir, name, size) => session.uploadAtomic(counted(source), dir, name, size),
      } satisfies RemoteSession;
    },
  };
}

describeEachDatabase('send job: the server fails the upload', (ctx) => {
  const suite = useSendSuite(() => ctx().db);
  const inbound = () => join(suite().sshd.root, 'inbound');
  const oneBatch = () => ({ ...suite().config, perso: { ...suite().config.perso, maxCardsPerFile: CARDS } });

  it('the connection dropped at any byte of the upload: the run goes on or fails as transient naming the file; the next delivers every card once', async function () {
    this.timeout(300_000);
    const { db, sshd, keys } = suite();
    const config = oneBatch();
    const seen: string[] = [];
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 60_000 }), fc.boolean(), async (offset, early) => {
      await db('card_contracts').update({ production_status: 'Marked', batch_id: null });
      for (const table of ['batch_items', 'perso_batches', 'leases']) await db(table).delete();
      for (const name of remoteFiles(sshd)) spawnSync('rm', ['-f', join(inbound(), name)]);
      if (!(await db('card_contracts').first('id'))) await insertCards(db, cipher, 1, CARDS);
      const transport = droppingAt(sshd, config, offset, early);
      const outcome = await sendJobFor(db, cipher, config, sshd, { transport }).run({ businessDate: DATE }).then(() => 'sent', (err: Error) => err);
      if (outcome instanceof Error) {
        // a drop met by a stat or a rename reads "Unexpected end event" (ssh2-sftp-client): a lost
        // connection too, retried (it was permanent: the daemon waited for the next cut-off)
        assert.ok(outcome instanceof TransientError, `${outcome.name}: ${outcome.message}`);
        assert.match(outcome.message, new RegExp(FIRST_FILE.replace(/\./g, '\\.')), 'the error names the file');
        assert.deepEqual((await contractsByStatus(db)).InProduction, undefined, 'no card confirmed by the failed run');
      }
      seen.push(`${offset} (${early ? 'during the claim' : 'after it'}): ${transport.dropped() ? 'dropped' : 'file shorter'} → ${outcome instanceof Error ? outcome.message : outcome}`);
      await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
      await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, CARDS));
      await assertBatchesAgree(db, sshd, keys);
    }), { numRuns: Number(process.env.BX_FAULT_RUNS ?? 4), endOnFailure: true });
    if (process.env.BX_FAULT_VERBOSE) console.log(seen.join('\n'));
  });

  /**
   * Runs the send with `act` done to the server at the fault point ('encrypted': the batch recorded,
   * nothing renamed yet), once the upload during the claim has put the whole file there as `.part`.
   */
  const sendWith = (point: SendFaultPoint, act: () => void) => {
    const { db, sshd } = suite();
    const part = join(inbound(), `${FIRST_FILE}.part`);
    const faults = {
      at: async (p: SendFaultPoint) => {
        if (p !== point) return;
        const { enc_size: size } = await db('perso_batches').where({ file_name: FIRST_FILE }).first('enc_size');
        await waitFor('the whole file as .part on the server', () => statSync(part, { throwIfNoEntry: false })?.size === Number(size));
        act();
      },
    };
    return sendJobFor(db, cipher, oneBatch(), sshd, { faults }).run({ businessDate: DATE });
  };

  it('the rename refused (the folder made read-only): fails as permission denied naming the file, cards Marked; writable again, the next run delivers once', async () => {
    const { db, sshd, keys } = suite();
    await insertCards(db, cipher, 1, CARDS);
    try {
      await assert.rejects(sendWith('encrypted', () => chmodSync(inbound(), 0o555)), (err: Error) => {
        assert.ok(err instanceof PermanentError, `${err.name}: ${err.message}`);
        assert.match(err.message, /permission denied/);
        assert.match(err.message, new RegExp(`/inbound/${FIRST_FILE.replace(/\./g, '\\.')}`));
        return true;
      });
    } finally {
      chmodSync(inbound(), 0o755);
    }
    assert.deepEqual(remoteFiles(sshd).filter((n) => !n.endsWith('.part')), [], 'never the final name');
    assert.deepEqual((await contractsByStatus(db)).Marked, ids(1, CARDS));
    await sendJobFor(db, cipher, oneBatch(), sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, oneBatch(), ids(1, CARDS));
  });

  it('the server\'s disk full (a small file system as its folder): fails naming the file, nothing renamed; with room, the next run delivers once', async () => {
    const { db, sshd, keys } = suite();
    await insertCards(db, cipher, 1, CARDS);
    const { uid, gid } = userIds('nobody');
    // root already runs the test sshd: it can mount a small file system over the server's folder
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=16k,uid=${uid},gid=${gid},mode=0755`, 'tmpfs', inbound()], { encoding: 'utf8' });
    assert.equal(mounted.status, 0, `mounting a small tmpfs as the server's full disk: ${mounted.stderr}`);
    try {
      await assert.rejects(sendJobFor(db, cipher, oneBatch(), sshd).run({ businessDate: DATE }), (err: Error) => {
        assert.ok(err instanceof PermanentError, `${err.name}: ${err.message}`);
        assert.match(err.message, /disk full|disk is full|quota/);
        assert.match(err.message, new RegExp(FIRST_FILE.replace(/\./g, '\\.')));
        return true;
      });
      assert.deepEqual(remoteFiles(sshd).filter((n) => !n.endsWith('.part')), [], 'never the final name');
      assert.deepEqual((await contractsByStatus(db)).Marked, ids(1, CARDS));
      assert.equal(spawnSync('mount', ['-o', 'remount,size=8m', inbound()]).status, 0);
      await sendJobFor(db, cipher, oneBatch(), sshd).run({ businessDate: DATE });
      await assertDeliveredExactlyOnce(db, sshd, keys, oneBatch(), ids(1, CARDS));
    } finally {
      spawnSync('umount', [inbound()]);
    }
  });

  it('the .part replaced by someone else with another size before the rename: not renamed, the file uploaded again; delivered once', async () => {
    const { db, sshd, keys } = suite();
    await insertCards(db, cipher, 1, CARDS);
    const part = () => join(inbound(), `${FIRST_FILE}.part`);
    await sendWith('encrypted', () => {
      writeFileSync(part(), Buffer.alloc(statSync(part()).size - 1, 0x41));
    });
    await assertDeliveredExactlyOnce(db, sshd, keys, oneBatch(), ids(1, CARDS));
    await assertBatchesAgree(db, sshd, keys);
  });

  it('the final name written by someone else before the rename: refused as permanent, left alone, cards Marked; once it is gone, delivered once', async () => {
    const { db, sshd, keys } = suite();
    await insertCards(db, cipher, 1, CARDS);
    const { uid, gid } = userIds('nobody');
    const foreign = join(inbound(), FIRST_FILE);
    await assert.rejects(sendWith('encrypted', () => {
      writeFileSync(foreign, 'not ours');
      chownSync(foreign, uid, gid);
    }), (err: Error) => {
      assert.ok(err instanceof PermanentError, `${err.name}: ${err.message}`);
      assert.match(err.message, new RegExp(`${FIRST_FILE.replace(/\./g, '\\.')} already exists`));
      return true;
    });
    assert.equal(statSync(foreign).size, 'not ours'.length, 'the other file left alone');
    assert.deepEqual((await contractsByStatus(db)).Marked, ids(1, CARDS));
    spawnSync('rm', ['-f', foreign]);
    await sendJobFor(db, cipher, oneBatch(), sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, oneBatch(), ids(1, CARDS));
  });
});
