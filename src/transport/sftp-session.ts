import { posix } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SFTPWrapper } from 'ssh2';
import type SftpClient from 'ssh2-sftp-client';
import { PermanentError, TransientError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { RemoteEntry, RemoteSession } from './remote.js';
import { remoteError } from './sftp-errors.js';

/** end() of ssh2-sftp-client can hang on a dead connection: we wait this long, then drop the socket. */
const CLOSE_TIMEOUT_MS = 5000;

/**
 * Bytes the upload buffers ahead: ssh2 sends buffered chunks as parallel write requests (writev),
 * instead of one request per round trip with the default 16 KiB.
 */
const WRITE_BUFFER_BYTES = 1024 * 1024;

/**
 * How long the server's SFTP process may leave a request unanswered: past it the connection is
 * dropped and the operation fails as transient. SSH keepalives do not tell: OpenSSH's sshd answers
 * them while its sftp-server process hangs (a stuck disk), and the operation then waited forever.
 */
const STALL_TIMEOUT_MS = 60_000;

/** Bytes a connection must carry meanwhile for an unanswered question to be a slow link, not a stall (keepalives carry ~100 bytes). */
const ALIVE_TRAFFIC_BYTES = 64 * 1024;

/** Created files: readable by the owner only (the library's default was world-writable). */
const FILE_MODE = 0o600;

/** (ssh2's WriteStream takes any Writable option; the typings list only its own) */
const WRITE_OPTIONS = { mode: FILE_MODE, flags: 'w', highWaterMark: WRITE_BUFFER_BYTES } as { mode: number; flags: 'w' };

export interface SftpSessionContext {
  endpoint: string;
  log: Logger;
  closeTimeoutMs?: number;
  /** the connection's SFTP channel, asked a cheap question while an operation runs (stall watch) */
  sftp?: Pick<SFTPWrapper, 'realpath'>;
  /** bytes the connection carried so far, both ways (a busy slow link is no stall) */
  traffic?: () => number;
  stallTimeoutMs?: number;
}

/** One open SFTP connection as a RemoteSession. Not reusable after close(). */
export function makeSftpSession(client: SftpClient, ctx: SftpSessionContext): RemoteSession {
  let closed = false;
  const where = (path: string) => `${path} on ${ctx.endpoint}`;
  const open = () => {
    if (closed) throw new PermanentError(`the SFTP session to ${ctx.endpoint} is closed`);
  };
  const guard = async <T>(action: string, path: string, fn: () => Promise<T>): Promise<T> => {
    open();
    const watch = watchStall(ctx, () => dropConnection(client));
    try {
      return await Promise.race([fn(), watch.stalled]);
    } catch (err) {
      if (watch.hasStalled()) {
        throw new TransientError(`${action} ${where(path)}: the server did not answer for ${(ctx.stallTimeoutMs ?? STALL_TIMEOUT_MS) / 1000} s: connection dropped`, { cause: err });
      }
      throw remoteError(err, action, where(path));
    } finally {
      watch.stop();
    }
  };

  /**
   * What is at `path` itself, as the listing shows it: a symlink is 'other', never followed (a
   * dangling one made stat fail, so that a file beside it could never be moved; exists() also called
   * a FIFO nothing).
   */
  const statOf = (path: string): Promise<RemoteEntry | null> =>
    guard('stat', path, async () => {
      const s = await lstat(client, path).catch((err: { code?: unknown }) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      if (!s) return null;
      return { name: posix.basename(path), type: s.isFile ? 'file' : s.isDirectory ? 'dir' : 'other', size: s.size, modifiedAt: new Date(s.modifyTime) };
    });

  /** `<final>.part` written from `source`: never beside an existing final name, a stale part removed first. */
  const putPart = async (source: Readable | string, final: string, checkSource: () => void) => {
    const part = `${final}.part`;
    if (await statOf(final)) throw new PermanentError(`${where(final)} already exists: refusing to overwrite it`);
    if (await statOf(part)) {
      ctx.log.warn({ file: part }, 'removing a stale partial upload');
      await guard('remove stale', part, () => client.delete(part));
    }
    checkSource();
    await guard('upload', part, () => client.put(source, part, { writeStreamOptions: WRITE_OPTIONS }));
  };

  /** `<final>.part` renamed to `<final>` once its size is the one expected. */
  const renamePart = async (final: string, expectedSize: number) => {
    const part = `${final}.part`;
    const uploaded = await statOf(part);
    if (uploaded?.size !== expectedSize) {
      // ssh2 can drop a write error (its stream closes quietly): the size is the proof. The .part
      // stays, like after a dropped connection; the next upload of this name removes it first.
      throw new PermanentError(
        `${where(part)} is ${uploaded?.size ?? 'missing'} bytes after upload, expected ${expectedSize}: not renamed ` +
          `(${(uploaded?.size ?? 0) < expectedSize ? 'the server stored less: disk full or quota exceeded?' : 'the source was longer than announced'})`,
      );
    }
    await guard('rename', part, () => client.rename(part, final)).catch(async (err) => {
      if (await statOf(final)) throw new PermanentError(`${where(final)} appeared during the upload: not overwritten, ${part} left in place`);
      throw err;
    });
    ctx.log.info({ file: final, bytes: expectedSize }, 'uploaded');
  };

  const session: RemoteSession = {
    list: (dir) =>
      guard('list', dir, async () =>
        (await client.list(dir)).map((e) => ({
          name: e.name,
          type: e.type === '-' ? 'file' : e.type === 'd' ? 'dir' : 'other',
          size: e.size,
          modifiedAt: new Date(e.modifyTime),
        })),
      ),

    stat: statOf,

    async uploadAtomic(source, dir, name, expectedSize, beforeRename) {
      await session.uploadPart(source, dir, name);
      beforeRename?.();
      await session.renamePart(dir, name, expectedSize);
    },

    async uploadPart(source, dir, name) {
      assertPlainName(name);
      // listen at once: a source failing while we check the server must not become an uncaught error
      let sourceError: Error | undefined;
      if (typeof source !== 'string') source.once('error', (err) => (sourceError ??= err));
      try {
        await putPart(source, posix.join(dir, name), () => {
          if (sourceError) throw sourceError;
        });
      } catch (err) {
        // the source is ours once handed over: never leave it (and an encryption worker) hanging
        if (typeof source !== 'string') source.destroy();
        throw sourceError ?? err;
      }
      // ssh2 may end the upload quietly when its source failed: the source's error is the outcome
      if (sourceError) throw sourceError;
    },

    async renamePart(dir, name, expectedSize) {
      assertPlainName(name);
      await renamePart(posix.join(dir, name), expectedSize);
    },

    download: (remotePath, destination, options = {}) =>
      guard('download', remotePath, async () => {
        const { maxBytes, signal } = options;
        let bytes = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            bytes += chunk.length;
            // the read range below already stops the server there; this holds whatever it sends
            if (maxBytes !== undefined && bytes > maxBytes) done(new PermanentError(`${where(remotePath)} sent more than the ${maxBytes} bytes asked for`));
            else done(null, chunk);
          },
        });
        if (maxBytes === 0) {
          destination.end();
          return 0;
        }
        const range = maxBytes === undefined ? {} : { start: 0, end: maxBytes - 1 }; // `end` is inclusive
        try {
          await pipeline(client.createReadStream(remotePath, range) as Readable, counter, destination as Writable, { signal });
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          throw err;
        }
        return bytes;
      }),

    async move(from, to) {
      const folder = posix.dirname(to);
      if (!(await statOf(folder))) await guard('create folder', folder, () => client.mkdir(folder, true));
      if (await statOf(to)) throw new PermanentError(`cannot move ${from} to ${where(to)}: the target already exists`);
      await guard('move', from, () => client.rename(from, to));
    },

    /** Removing what is already gone is not an error (resuming after a crash may repeat it). */
    remove: (path) => guard('remove', path, async () => void (await client.delete(path, true))),

    async close() {
      if (closed) return;
      closed = true;
      await endWithin(client, ctx.closeTimeoutMs ?? CLOSE_TIMEOUT_MS, ctx.log);
    },
  };
  return session;
}

/**
 * While an operation runs, asks the server a question that costs nothing (realpath of ".") whenever
 * none is pending. OpenSSH's sftp-server answers requests in order: one unanswered for the stall
 * timeout means the server is stuck (not that our source is slow: with nothing in flight the answer
 * comes at once), unless the connection carried data meanwhile (the answer waits behind the data of a
 * slow link). Then `onStall` drops the connection and `stalled` rejects.
 */
function watchStall(ctx: SftpSessionContext, onStall: () => void): { stalled: Promise<never>; hasStalled(): boolean; stop(): void } {
  const timeoutMs = ctx.stallTimeoutMs ?? STALL_TIMEOUT_MS;
  const traffic = ctx.traffic ?? (() => 0);
  let stalled = false;
  let reject: (err: Error) => void = () => undefined;
  const promise = new Promise<never>((_, r) => (reject = r));
  promise.catch(() => undefined);
  let askedAt: number | null = null;
  let trafficThen = 0;
  const tick = () => {
    if (askedAt === null) {
      [askedAt, trafficThen] = [Date.now(), traffic()];
      try {
        ctx.sftp!.realpath('.', () => (askedAt = null));
      } catch {
        // a channel already closed: the operation fails on its own
      }
    } else if (traffic() - trafficThen >= ALIVE_TRAFFIC_BYTES) {
      [askedAt, trafficThen] = [Date.now(), traffic()];
    } else if (Date.now() - askedAt >= timeoutMs) {
      stalled = true;
      clearInterval(timer);
      onStall();
      reject(new Error(`no answer for ${timeoutMs} ms`));
    }
  };
  const timer = ctx.sftp ? setInterval(tick, Math.max(10, Math.floor(timeoutMs / 4))) : undefined;
  timer?.unref();
  return { stalled: promise, hasStalled: () => stalled, stop: () => clearInterval(timer) };
}

/** ssh2-sftp-client's lstat (its typings, of an older version, lack it): stat's result, of the link itself. */
function lstat(client: SftpClient, path: string): ReturnType<SftpClient['stat']> {
  return (client as unknown as { lstat: SftpClient['stat'] }).lstat(path);
}

/** Drops the TCP connection under the SFTP session: every pending request fails at once. */
function dropConnection(client: SftpClient): void {
  (client as unknown as { client: { destroy(): void } }).client.destroy();
}

async function endWithin(client: SftpClient, timeoutMs: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const ended = client.end().then(() => 'ended' as const, (err) => {
    log.debug({ err: messageOf(err) }, 'SFTP end reported an error');
    return 'ended' as const;
  });
  const outcome = await Promise.race([ended, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    log.warn({ timeoutMs }, 'SFTP end() did not finish: dropping the connection');
    dropConnection(client);
  }
}

/** A remote file name we write: one path segment, no traversal. */
function assertPlainName(name: string): void {
  if (!name || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new PermanentError(`invalid remote file name ${JSON.stringify(name)}: a single path segment is required`);
  }
}
