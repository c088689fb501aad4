import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EncryptedFile } from '../db/batches.js';
import { isSystemError } from '../errors.js';
import { digestingStream } from '../crypto/digest.js';
import type { ClearPersoFile, PersoFileMaker } from './perso-file.js';

export interface BuildRequest {
  /** its keys encrypt the file */
  maker: Pick<PersoFileMaker, 'encrypt'>;
  /** the clear file, as maker.render made it (here or on the file thread) */
  rendered: ClearPersoFile;
  fileName: string;
  outbox: string;
  /** called once, when the first clear bytes flow (fault injection in tests) */
  onFirstBytes?: () => void | Promise<void>;
  /**
   * Also given the encrypted bytes as they are made (the upload during the claim), never waited for:
   * once it holds more than its highWaterMark unread, it is dropped (destroyed) and the build goes on.
   * Ended with the file, destroyed when the build fails.
   */
  copyTo?: Writable;
}

/**
 * Encrypts the rendered file in flight and writes only the encrypted bytes, first to
 * `<outbox>/<name>.tmp`, then (synced) renamed to `<outbox>/<name>`: the clear file never touches disk
 * and a complete outbox file is never half-written.
 */
export async function buildEncryptedFile(req: BuildRequest): Promise<EncryptedFile> {
  await mkdir(req.outbox, { recursive: true, mode: 0o700 });
  const finalPath = join(req.outbox, req.fileName);
  const tmpPath = finalPath + '.tmp';
  const { rendered } = req;
  const clearDigest = digestingStream();
  const encDigest = digestingStream();
  const encrypted = req.maker.encrypt(clearDigest);
  const clearSide = pipeline(rendered.clear, firstBytesTap(req.onFirstBytes), clearDigest).catch((err) => {
    encrypted.destroy(err);
    throw err;
  });
  const outbox = createWriteStream(tmpPath, { mode: 0o600 });
  // a write's error (ENOSPC, EIO) names no file: the operator is told which disk failed
  outbox.once('error', (err) => namePath(err, tmpPath));
  const encryptedSide = req.copyTo ? pipeline(encrypted, encDigest, copyTap(req.copyTo), outbox) : pipeline(encrypted, encDigest, outbox);
  try {
    await settleBoth(clearSide, encryptedSide);
    await fsyncFile(tmpPath).catch((err) => {
      throw namePath(err, tmpPath);
    });
    await rename(tmpPath, finalPath);
  } catch (err) {
    rendered.clear.destroy();
    // a reason of its own: the build's error (it may name a card) is reported once, by the job
    req.copyTo?.destroy(new Error('the file could not be built'));
    await unlink(tmpPath).catch(() => undefined);
    throw err;
  }
  const clear = clearDigest.digest();
  const enc = encDigest.digest();
  const totals = rendered.totals();
  return {
    clearSha256: clear.sha256, clearSize: clear.size, encSha256: enc.sha256, encSize: enc.size,
    outboxPath: finalPath, recordCount: totals.records, hashTotal: totals.hashTotal,
  };
}

/** A system error about `path` that does not name it, named (its code and class kept: still a local fault). */
function namePath(err: unknown, path: string): unknown {
  if (isSystemError(err) && err instanceof Error && !err.message.includes(path)) err.message = `${err.message} ${path}`;
  return err;
}

/** Waits for both sides; the first error (usually the root cause, the clear side) wins. */
async function settleBoth(a: Promise<unknown>, b: Promise<unknown>): Promise<void> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') throw ra.reason;
  if (rb.status === 'rejected') throw rb.reason;
}

/**
 * Passes the bytes on and writes each chunk to `copy` too, without waiting for it: a copy that has more
 * than its highWaterMark unread is behind (a slow link) and is destroyed, never the build slowed.
 */
function copyTap(copy: Writable): Transform {
  let attached = true;
  const drop = (why: string) => {
    attached = false;
    copy.destroy(new Error(why));
  };
  copy.once('error', () => (attached = false));
  copy.once('close', () => (attached = false));
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (attached) {
        if (copy.writableLength > copy.writableHighWaterMark) drop(`the copy fell more than ${copy.writableHighWaterMark} bytes behind the file`);
        else copy.write(chunk);
      }
      done(null, chunk);
    },
    flush(done) {
      if (attached) copy.end();
      done();
    },
  });
}

function firstBytesTap(onFirstBytes?: () => void | Promise<void>): Transform {
  let seen = false;
  return new Transform({
    transform(chunk, _encoding, done) {
      if (seen || !onFirstBytes) return done(null, chunk);
      seen = true;
      Promise.resolve().then(onFirstBytes).then(() => done(null, chunk), done);
    },
  });
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
