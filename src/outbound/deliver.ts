import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import type { Batch } from '../db/batches.js';
import { PermanentError } from '../errors.js';
import type { RemoteSession } from '../transport/remote.js';
import { digestOfFile, digestingStream } from '../crypto/digest.js';
import { encryptionKeyIdsOfFile } from '../crypto/pgp.js';

/**
 * Whether the batch's file is already on the server under its final name. The final name only ever
 * appears through our atomic rename, after the batch recorded its file's SHA-256: the recorded bytes
 * there mean it was delivered (renamed, then the run died before recording it). Anything else is
 * somebody else's file: refused, never overwritten. The size alone proves nothing: fixed-width
 * records make every file of the same card count the same size, so a file of the right size is read
 * back and hashed (only on this rare path; an absent final name costs one stat as before).
 */
export async function alreadyDelivered(session: RemoteSession, dir: string, batch: Batch): Promise<boolean> {
  const path = posix.join(dir, batch.fileName);
  const remote = await session.stat(path);
  if (!remote) return false;
  if (remote.type !== 'file' || remote.size !== batch.encSize) {
    throw new PermanentError(
      `${path} already exists on the server with ${remote.size} bytes (${remote.type}), ` +
      `not the ${batch.encSize} bytes of batch ${batch.id}: left alone, resolve by hand`,
    );
  }
  if (await remoteSha256(session, path, remote.size) === batch.encSha256) return true;
  throw new PermanentError(
    `${path} already exists on the server with the ${batch.encSize} bytes of batch ${batch.id} but other content ` +
    `(not the SHA-256 recorded for it): left alone, resolve by hand`,
  );
}

/** SHA-256 of a remote file, never reading past the size it was listed with. */
async function remoteSha256(session: RemoteSession, path: string, size: number): Promise<string> {
  const digest = digestingStream();
  digest.resume(); // only the hash is kept
  await session.download(path, digest, { maxBytes: size });
  return digest.digest().sha256;
}

/**
 * Whether the outbox file is still the one recorded at encryption (same SHA-256 and size) and made
 * for the keys configured now: a batch that waited while the bureau's key was replaced (expired,
 * revoked, rotated) would otherwise reach the bureau encrypted to a key it no longer holds.
 */
export async function outboxIntact(batch: Batch, recipientKeyIds: readonly string[]): Promise<boolean> {
  if (!batch.outboxPath || !existsSync(batch.outboxPath)) return false;
  const digest = await digestOfFile(batch.outboxPath);
  if (digest.sha256 !== batch.encSha256 || digest.size !== batch.encSize) return false;
  return sameKeys(await encryptionKeyIdsOfFile(batch.outboxPath), recipientKeyIds);
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  const sorted = (ids: readonly string[]) => [...new Set(ids)].sort().join(' ');
  return sorted(a) === sorted(b);
}
