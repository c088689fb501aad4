// The upload during the claim: the batch's encrypted file goes to `<name>.part` on the server as it is made.
import { posix } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { withSession, type RemoteSession, type Transport } from '../transport/remote.js';

/**
 * Encrypted bytes the upload may hold unread before it is dropped (build.ts, copyTap): a link slower
 * than the claim makes the file is not waited for; the file is then uploaded after the claim, as when
 * nothing was uploaded during it.
 */
export const EARLY_UPLOAD_LAG_BYTES = 8 * 1024 * 1024;

/** What the copy hands the upload at a time beyond that (about one SFTP write buffer). */
const COPY_READ_AHEAD_BYTES = 1024 * 1024;

/**
 * The batch's file uploaded while the claim makes it, so that the send's upload step only has to
 * check the size of `<name>.part` and rename it (one SFTP round trip instead of the whole file once
 * the claim has committed). Nothing is renamed here: the final name appears only in the upload step,
 * after the batch is recorded `encrypted`, exactly as without it. It is never a failure of the send:
 * when it fails or falls behind, the upload step uploads the outbox file (removing the `.part` first).
 */
export interface EarlyUpload {
  /** the encrypted bytes, for the build (BuildRequest.copyTo) */
  readonly copy: Writable;
  /** the session holding the whole file as `<name>.part`, or undefined when the early upload did not get there */
  landed(): Promise<RemoteSession | undefined>;
  /**
   * The batch failed before its upload step used the `.part` (the claim rolled back, or its file is to
   * be made again): the `.part` is removed (best effort) and the session closed. Nothing once closed.
   */
  discard(): Promise<void>;
  /** closes the session: the upload step has taken it over (renamed the `.part`, or uploads the file itself) */
  close(): Promise<void>;
}

export function startEarlyUpload(transport: Transport, dir: string, name: string, log: Logger): EarlyUpload {
  // the lag is counted on the writable side (copyTap): the readable side holds only what the upload is about to take
  const copy = new PassThrough({ writableHighWaterMark: EARLY_UPLOAD_LAG_BYTES, readableHighWaterMark: COPY_READ_AHEAD_BYTES });
  copy.on('error', () => undefined); // the reason is logged below, and the send goes on without it
  // the copy destroyed before its end (dropped as too slow, or the claim failed): whatever ssh2 does with
  // its half-read source, the early upload is over
  const cut = new Promise<undefined>((resolve) => copy.once('close', () => {
    if (!copy.readableEnded) resolve(undefined);
  }));
  let session: RemoteSession | undefined;
  const landing = (async (): Promise<RemoteSession | undefined> => {
    const connecting = transport.connect();
    try {
      session = await Promise.race([connecting, cut]);
      if (!session) throw new Error('dropped before the connection was open');
      const uploaded = await Promise.race([session.uploadPart(copy, dir, name).then(() => true), cut]);
      if (!uploaded) throw new Error(`dropped: more than ${EARLY_UPLOAD_LAG_BYTES} bytes behind the file, or the claim failed`);
      return session;
    } catch (err) {
      copy.destroy();
      // a connection that opens after the upload was dropped is closed at once
      if (!session) void connecting.then((late) => late.close(), () => undefined);
      log.info({ file: name, reason: messageOf(err) }, 'upload during the claim stopped: the file is uploaded once the claim has committed');
      return undefined;
    }
  })();
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= landing.then(async () => {
    await session?.close().catch(() => undefined);
  }));
  return {
    copy,
    landed: () => landing,
    async discard() {
      // closed: the upload step took it over, and what is on the server is that step's
      if (closing) return closing;
      copy.destroy(new Error('the batch failed before its upload step'));
      const part = posix.join(dir, `${name}.part`);
      const kept = (err: unknown) => log.warn({ file: part, reason: messageOf(err) }, 'could not remove an upload of a failed batch: the next upload of this name replaces it');
      const whole = await landing;
      if (whole) {
        // nothing of the upload is under way any more: its own session removes it
        await whole.remove(part).catch(kept);
      } else if (session) {
        // cut while under way: its session ends first, so that none of its requests reaches the server after the removal
        await close();
        await withSession(transport, (cleanup) => cleanup.remove(part)).catch(kept);
      }
      await close();
    },
    close,
  };
}
