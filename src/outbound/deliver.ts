import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import type { Batch } from '../db/batches.js';
import { PermanentError } from '../errors.js';
import type { RemoteSession } from '../transport/remote.js';
import { digestOfFile } from '../crypto/digest.js';

/**
 * Whether the batch's file is already on the server under its final name. The final name only ever
 * appears through the atomic rename, so the recorded size there means it was delivered; another
 * size means somebody else's file: refused, never overwritten.
 */
export async function alreadyDelivered(session: RemoteSession, dir: string, batch: Batch): Promise<boolean> {
  const remote = await session.stat(posix.join(dir, batch.fileName));
  if (!remote) return false;
  if (remote.type === 'file' && remote.size === batch.encSize) return true;
  throw new PermanentError(
    `${posix.join(dir, batch.fileName)} already exists on the server with ${remote.size} bytes (${remote.type}), ` +
    `not the ${batch.encSize} bytes of batch ${batch.id}: left alone, resolve by hand`,
  );
}

/** Whether the outbox file is still the one recorded at encryption (same SHA-256 and size). */
export async function outboxIntact(batch: Batch): Promise<boolean> {
  if (!batch.outboxPath || !existsSync(batch.outboxPath)) return false;
  const digest = await digestOfFile(batch.outboxPath);
  return digest.sha256 === batch.encSha256 && digest.size === batch.encSize;
}
