import type { Readable, Writable } from 'node:stream';
import { PermanentError } from '../errors.js';

/**
 * The server refused us a file or folder (permission denied): about that path, not the connection;
 * receive leaves such a report where it is and goes on with the others.
 */
export class RemoteDeniedError extends PermanentError {
  override name = 'RemoteDeniedError';
}

/** One entry of a remote folder listing. */
export interface RemoteEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  size: number;
  modifiedAt: Date;
}

/**
 * An open session on the bureau's server: the one interface the jobs use for remote files.
 * OpenSSH and the sandbox server are both reached through it (SFTP).
 */
export interface RemoteSession {
  list(dir: string): Promise<RemoteEntry[]>;
  /** null when nothing is at that path */
  stat(path: string): Promise<RemoteEntry | null>;
  /**
   * Writes `source` to `<dir>/<name>.part`, checks the remote size equals `expectedSize`, then
   * renames it to `<dir>/<name>`. Never overwrites an existing final name. `beforeRename` is the last
   * check before the bureau can see the file (the send's lease: a runner frozen past its lease during
   * the upload must not rename what the runner now holding it is uploading); a throw leaves the `.part`.
   */
  uploadAtomic(source: Readable | string, dir: string, name: string, expectedSize: number, beforeRename?: () => void): Promise<void>;
  /**
   * The first half of uploadAtomic, for an upload that starts before its size is known: writes
   * `source` to `<dir>/<name>.part` (a stale one removed first), never when `<dir>/<name>` exists.
   */
  uploadPart(source: Readable | string, dir: string, name: string): Promise<void>;
  /** The second half: checks that `<dir>/<name>.part` is `expectedSize` bytes, then renames it to `<dir>/<name>`. */
  renamePart(dir: string, name: string, expectedSize: number): Promise<void>;
  /**
   * Streams a remote file into `destination`; returns the bytes written. With `maxBytes`, never reads
   * more than that (a file still growing is cut there; the caller compares sizes). `signal` stops it.
   */
  download(remotePath: string, destination: Writable, options?: { maxBytes?: number; signal?: AbortSignal }): Promise<number>;
  /** Moves a remote file, creating the target folder when missing. */
  move(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  close(): Promise<void>;
}

/** Opens sessions (with host key pinning, retries and timeouts applied inside). */
export interface Transport {
  connect(): Promise<RemoteSession>;
}

/** Runs `fn` with a session and always closes it. */
export async function withSession<T>(transport: Transport, fn: (session: RemoteSession) => Promise<T>): Promise<T> {
  const session = await transport.connect();
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}
