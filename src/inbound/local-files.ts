import { createHash, randomBytes } from 'node:crypto';
import fs, { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReportKind } from '../db/reports.js';
import type { RemoteSession } from '../transport/remote.js';

/**
 * Our local folders for reports. Local names are ours — `<sha256>.<kind>` — never the remote name:
 * a hostile remote name cannot reach the file system.
 */
export interface ReportFolders {
  /** downloads in progress and reports being processed */
  inbox: string;
  /** encrypted copies of quarantined reports */
  quarantine: string;
  /** encrypted copies of applied reports */
  archive: string;
}

export function reportFolders(workDir: string): ReportFolders {
  const folders = { inbox: join(workDir, 'inbox'), quarantine: join(workDir, 'quarantine'), archive: join(workDir, 'archive', 'reports') };
  for (const dir of Object.values(folders)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  return folders;
}

/**
 * Empties the inbox at the start of a run: it only ever holds work in progress (partial downloads,
 * clear XML, a report whose run was interrupted — downloaded again, as the hash decides).
 */
export function cleanInbox(folders: ReportFolders): void {
  for (const name of readdirSync(folders.inbox)) rmSync(join(folders.inbox, name), { force: true, recursive: true });
}

export interface DownloadedReport {
  /** inbox/<sha256>.<kind> */
  path: string;
  sha256: string;
  size: number;
}

/**
 * Downloads to a temporary name while hashing, then renames to the content-hash name. At most
 * `maxBytes` are read (the listed size). A local write error (full disk, read-only folder) rejects
 * with that error, not as a download failure: it is ours, not the server's; and a server's error
 * (permission denied, a lost connection) as the download's, which classifies it.
 */
export async function downloadReport(
  session: RemoteSession, remotePath: string, kind: ReportKind, folders: ReportFolders, options: { maxBytes?: number; signal?: AbortSignal } = {},
): Promise<DownloadedReport> {
  const temp = join(folders.inbox, `.dl-${randomBytes(8).toString('hex')}.part`);
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const file = fileNotingItsFailure(temp);
  // a failing file destroys `hashing` too, which ends the download with the file's error
  const written = pipeline(hashing, file.stream);
  written.catch(() => undefined);
  try {
    const size = await session.download(remotePath, hashing, options);
    await written;
    const sha256 = hash.digest('hex');
    const path = join(folders.inbox, `${sha256}.${kind}`);
    renameSync(temp, path);
    return { path, sha256, size };
  } catch (err) {
    hashing.destroy();
    file.stream.destroy();
    rmSync(temp, { force: true });
    throw file.failure() ?? err;
  }
}

type FsCallback = (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => void;

/**
 * A new file (0600, never an existing one) as a write stream that remembers the first failure of its
 * own file operations: a failed download destroys it too, with the server's error, which must not
 * pass for a local fault.
 */
function fileNotingItsFailure(path: string): { stream: WriteStream; failure(): Error | undefined } {
  let failure: Error | undefined;
  const noting = <F extends (...args: any[]) => void>(operation: F) => ((...args: unknown[]) => {
    const callback = args.pop() as FsCallback;
    operation(...args, (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => {
      if (err) failure ??= err;
      callback(err, ...rest);
    });
  }) as unknown as F;
  const stream = createWriteStream(path, {
    mode: 0o600, flags: 'wx', fs: { open: noting(fs.open), write: noting(fs.write), writev: noting(fs.writev), close: noting(fs.close) },
  });
  return { stream, failure: () => failure };
}

/** Moves our copy into `dir` under its hash name (replacing an identical earlier copy). */
export function keepCopy(download: DownloadedReport, kind: ReportKind, dir: string): string {
  const target = join(dir, `${download.sha256}.${kind}`);
  if (download.path !== target) renameSync(download.path, target);
  return target;
}

export function clearFileOf(download: DownloadedReport, folders: ReportFolders): string {
  return join(folders.inbox, `${download.sha256}.xml`);
}

export function removeIfPresent(path: string | null | undefined): void {
  if (path && existsSync(path)) rmSync(path, { force: true });
}
