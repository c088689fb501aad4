import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { buildEncryptedFile } from '../../src/outbound/build.js';
import { EARLY_UPLOAD_LAG_BYTES, startEarlyUpload } from '../../src/outbound/early-upload.js';
import { PanCipher } from '../../src/security/pan.js';
import type { RemoteSession, Transport } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { DATE, FIRST_FILE as FILE, insertCards } from './fixtures.js';
import { assertDeliveredExactlyOnce, remoteFiles, sendJobFor, useSendSuite } from './job-harness.js';
import { fileMaker, filesIn, makeBureauKeys, removeDir, sendConfig, type BureauKeys } from './harness.js';

const cipher = new PanCipher(newPanKey());

/** The transport's sessions, each upload call named in `calls`; `uploadPart` as given (default: the real one). */
function watched(inner: Transport, uploadPart?: (real: RemoteSession) => RemoteSession['uploadPart']) {
  const calls: string[] = [];
  const transport: Transport = {
    async connect() {
      const s = await inner.connect();
      const part = uploadPart?.(s) ?? s.uploadPart;
      return {
        ...s,
        uploadAtomic: (...a) => (calls.push('uploadAtomic'), s.uploadAtomic(...a)),
        uploadPart: (...a) => (calls.push('uploadPart'), part(...a)),
        renamePart: (...a) => (calls.push('renamePart'), s.renamePart(...a)),
      };
    },
  };
  return { calls, transport };
}

/** The send's config with the shortest lease (5 s): loseLease then takes effect within a renewal. */
const withShortLease = (config: Config): Config => ({ ...config, daemon: { ...config.daemon, leaseTtlSeconds: 5 } });

/**
 * Another runner takes the lease (as when this one stood still past it), and this one's keeper finds
 * out at its next renewal (every third of the 5 s TTL): the next assertHeld throws.
 */
async function loseLease(db: Knex): Promise<void> {
  await db('leases').update({ owner: 'another-runner' });
  await new Promise((resolve) => setTimeout(resolve, 4_000));
}

describeEachDatabase('send: the file uploaded while the claim makes it', (ctx) => {
  // (FILE: the first file of the day, as every test here sends)
  const suite = useSendSuite(() => ctx().db);

  it('goes up as .part during the claim; the upload step only checks its size and renames it', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 5);
    const { calls, transport } = watched(makeSftpTransport(config.sftp, { log: silentLogger }));
    const result = await sendJobFor(db, cipher, config, sshd, { transport }).run({ businessDate: DATE });
    assert.equal(result.cardsSent, 5);
    assert.deepEqual(calls, ['uploadPart', 'renamePart'], 'the whole file once, during the claim; no upload after it');
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003', '1004', '1005']);
  });

  it('a connection lost during the claim leaves a short .part: the file is uploaded after the claim instead', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 3);
    const { calls, transport } = watched(makeSftpTransport(config.sftp, { log: silentLogger }), (real) => async (_source, dir, name) => {
      await real.uploadPart(Readable.from([Buffer.from('the first bytes')]), dir, name);
      throw new Error('injected: connection lost during the claim');
    });
    const result = await sendJobFor(db, cipher, config, sshd, { transport }).run({ businessDate: DATE });
    assert.equal(result.cardsSent, 3);
    assert.deepEqual(calls, ['uploadPart', 'uploadAtomic'], 'uploaded again, whole, after the claim');
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003']);
  });

  it('a runner whose lease ran out while it uploaded does not rename: the runner holding the lease now is the one to', async function () {
    this.timeout(60_000);
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 3);
    const short = withShortLease(config);
    const inner = makeSftpTransport(config.sftp, { log: silentLogger });
    // the upload during the claim fails, so the file goes up after it; meanwhile another runner takes
    // the lease (as when this one was frozen past its lease), and this one's renewal finds it gone
    const transport: Transport = {
      async connect() {
        const s = await inner.connect();
        return {
          ...s,
          uploadPart: async () => { throw new Error('injected: connection lost during the claim'); },
          uploadAtomic: async (...a) => {
            await loseLease(db);
            return s.uploadAtomic(...a);
          },
        };
      },
    };
    await assert.rejects(sendJobFor(db, cipher, short, sshd, { transport }).run({ businessDate: DATE }), /lease was lost/);
    assert.deepEqual(remoteFiles(sshd), [`${FILE}.part`], 'uploaded, not renamed');
    await db('leases').delete();
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003']);
  });

  it('a run that fails after its lease ran out (the holder now cleaned its outbox file) is told as the lease\'s loss, what it met kept', async function () {
    this.timeout(60_000);
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 3);
    const short = withShortLease(config);
    const failing = sendJobFor(db, cipher, short, sshd, {
      faults: { at: async (point) => {
        if (point !== 'encrypting') return;
        await loseLease(db);
        throw new Error("ENOENT: no such file or directory, open 'outbox/x.tmp'");
      } },
    });
    await assert.rejects(failing.run({ businessDate: DATE }), (err: Error) => {
      assert.match(err.message, /^the send lease was lost; another runner may continue \(then: .*ENOENT/);
      return true;
    });
    await db('leases').delete();
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003']);
  });

  it('a claim that fails while its file goes up leaves nothing on the server; the next run delivers every card once', async function () {
    this.timeout(60_000);
    const { db, sshd, keys, config } = suite();
    // a file of several MB: while its first bytes wait (below), the claim soon waits for the file thread
    const cards = 10_000;
    await insertCards(db, cipher, 1, cards);
    const part = join(sshd.root, 'inbound', `${FILE}.part`);
    const failing = sendJobFor(db, cipher, config, sshd, {
      faults: { at: async (point) => {
        if (point !== 'encrypting') return;
        await waitUntil(() => existsSync(part)); // the upload has begun
        throw new Error('injected at encrypting');
      } },
    });
    await assert.rejects(failing.run({ businessDate: DATE }), /injected at encrypting/);
    assert.equal(Number((await db('perso_batches').count({ n: '*' }).first())!.n), 0, 'the claim rolled back');
    assert.deepEqual(remoteFiles(sshd), [], 'its .part removed');
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, Array.from({ length: cards }, (_, i) => String(1001 + i)));
  });

  it('discard removes the .part an upload put on the server; close keeps it', async () => {
    const { sshd, config } = suite();
    const transport = makeSftpTransport(config.sftp, { log: silentLogger });
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    for (const ending of ['discard', 'close'] as const) {
      const early = startEarlyUpload(transport, '/inbound', FILE, silentLogger);
      early.copy.end(bytes);
      const session = await early.landed();
      assert.ok(session, 'the whole file went up');
      assert.ok(readFileSync(join(sshd.root, 'inbound', `${FILE}.part`)).equals(bytes));
      await early[ending]();
      assert.deepEqual(remoteFiles(sshd), ending === 'discard' ? [] : [`${FILE}.part`]);
    }
  });

  it('an upload whose copy is dropped before its connection opens gives up at once, and the late connection is closed', async () => {
    const { sshd, config } = suite();
    let opened: RemoteSession | undefined;
    let closed = false;
    let open!: () => void;
    const slow: Transport = {
      async connect() {
        await new Promise<void>((resolve) => (open = resolve));
        const session = await makeSftpTransport(config.sftp, { log: silentLogger }).connect();
        opened = session;
        return { ...session, close: async () => { closed = true; await session.close(); } };
      },
    };
    const early = startEarlyUpload(slow, '/inbound', FILE, silentLogger);
    early.copy.destroy(new Error('the copy fell behind'));
    assert.equal(await early.landed(), undefined);
    open();
    await waitUntil(() => closed);
    assert.ok(opened);
    await early.close();
    assert.deepEqual(remoteFiles(sshd), []);
  });
});

describe('the upload during the claim: memory', () => {
  it('holds at most its lag (and about one SFTP write buffer read ahead) before it is dropped', async () => {
    const never: Transport = { connect: () => new Promise<RemoteSession>(() => undefined) };
    const early = startEarlyUpload(never, '/inbound', FILE, silentLogger);
    const copy = early.copy as PassThrough;
    const chunk = Buffer.alloc(256 * 1024);
    // written as build.ts's copyTap writes it: until more than its highWaterMark waits, nothing read
    let most = 0;
    while (copy.writableLength <= copy.writableHighWaterMark) {
      copy.write(chunk);
      most = Math.max(most, copy.writableLength + copy.readableLength);
    }
    assert.ok(most > EARLY_UPLOAD_LAG_BYTES, 'filled up to its lag');
    assert.ok(most <= EARLY_UPLOAD_LAG_BYTES + 1024 * 1024 + 2 * chunk.length, `held ${most} bytes`);
    copy.destroy(new Error('the copy fell behind'));
    assert.equal(await early.landed(), undefined);
  });
});

describe('build: the copy of the encrypted bytes for the upload during the claim', () => {
  let keys: BureauKeys;
  before(() => { keys = makeBureauKeys(); });
  after(() => keys.gpg.cleanup());

  it('gets every encrypted byte, ended with the file; one that falls behind is dropped and the file is still built', async () => {
    const config = sendConfig(keys);
    try {
      const maker = await fileMaker(config);
      const outbox = join(config.workDir, 'outbox');
      const clear = () => ({ clear: Readable.from([randomBytes(2 * 1024 * 1024)]), totals: () => ({ records: 0, hashTotal: '0' }) });
      // read as it comes: the same bytes as the outbox file
      const kept = new PassThrough();
      const chunks: Buffer[] = [];
      kept.on('data', (c: Buffer) => chunks.push(c));
      const file = await buildEncryptedFile({ maker, fileName: 'A.pgp', outbox, rendered: clear(), copyTo: kept });
      assert.ok(Buffer.concat(chunks).equals(readFileSync(file.outboxPath)), 'the copy is the file');
      assert.ok(kept.writableEnded, 'ended with the file');
      // never read: dropped once more than its highWaterMark waits, without holding up the build
      const stuck = new PassThrough({ highWaterMark: 64 * 1024 });
      let dropped: Error | undefined;
      stuck.on('error', (err) => (dropped = err));
      const built = await buildEncryptedFile({ maker, fileName: 'B.pgp', outbox, rendered: clear(), copyTo: stuck });
      assert.ok(built.encSize > 2 * 1024 * 1024);
      assert.match(dropped?.message ?? '', /the copy fell more than 65536 bytes behind the file/);
      assert.deepEqual(filesIn(outbox), ['A.pgp', 'B.pgp']);
      assert.ok(!existsSync(join(outbox, 'B.pgp.tmp')));
    } finally {
      removeDir(config.workDir);
    }
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok(condition(), 'in time');
}
