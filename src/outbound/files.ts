import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../log.js';

/** Where the send job keeps encrypted files: the outbox until sent, then the archive. */
export interface SendFolders {
  outbox: string;
  archive: string;
}

export function sendFolders(workDir: string): SendFolders {
  return { outbox: join(workDir, 'outbox'), archive: join(workDir, 'archive') };
}

/**
 * Moves a sent file from the outbox to the archive; idempotent, so a confirm repeated after a crash
 * finds it already there. Returns the archive path, or null when the file is in neither place.
 * The file's time becomes `sentAt`: the retention (purgeArchive) counts from the send, and a file
 * that waited in the outbox longer than the retention would otherwise go as soon as it is sent.
 */
export async function archiveFile(outboxPath: string, folders: SendFolders, log: Logger, sentAt: Date): Promise<string | null> {
  const target = join(folders.archive, basename(outboxPath));
  if (existsSync(outboxPath)) {
    await mkdir(folders.archive, { recursive: true, mode: 0o700 });
    await moveFile(outboxPath, target);
    await utimes(target, sentAt, sentAt);
    return target;
  }
  if (existsSync(target)) return target;
  log.warn({ file: basename(outboxPath) }, 'sent file is neither in the outbox nor in the archive');
  return null;
}

/**
 * A rename, or, when the archive is another disk (EXDEV: a volume of its own), a copy synced under a
 * temporary name, renamed, and only then the original removed: never half a file under the archive's
 * name, and a crash in between leaves the outbox file for the confirm's next attempt.
 */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
  }
  const copying = `${to}.tmp`;
  await copyFile(from, copying);
  await chmod(copying, 0o600);
  const handle = await open(copying, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(copying, to);
  await unlink(from);
}

/** Deletes archived files last modified more than `retentionDays` ago; returns their names. */
export async function purgeArchive(folders: SendFolders, retentionDays: number, now: Date): Promise<string[]> {
  if (!existsSync(folders.archive)) return [];
  const limit = now.getTime() - retentionDays * 86_400_000;
  const deleted: string[] = [];
  for (const entry of await readdir(folders.archive, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(folders.archive, entry.name);
    if ((await stat(path)).mtimeMs < limit) {
      await unlink(path);
      deleted.push(entry.name);
    }
  }
  return deleted;
}

/** Deletes half-written `.tmp` files a killed run left in the outbox (call with the lease held). */
export async function removeStaleTemporaries(folders: SendFolders): Promise<string[]> {
  if (!existsSync(folders.outbox)) return [];
  const stale = (await readdir(folders.outbox)).filter((name) => name.endsWith('.tmp'));
  // force: a runner frozen past its lease may remove its own .tmp as it wakes and fails
  for (const name of stale) await rm(join(folders.outbox, name), { force: true });
  return stale;
}
