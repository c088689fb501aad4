import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { refuseOpenSecretFile } from '../config/secrets.js';
import { ConfigError, PermanentError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';

/** What we tell about a recipient key (status output, logs, alerts). */
export interface PgpKeyInfo {
  fingerprint: string;
  userIds: string[];
  /** when the key (or its encryption subkey, whichever is first) expires; null: never */
  expiresAt: Date | null;
  daysToExpiry: number | null;
}

const DAY_MS = 86_400_000;

/**
 * Loads a recipient's public key and checks it can be trusted today: the fingerprint matches the
 * pinned one, it is neither revoked nor expired, and it has a usable encryption (sub)key.
 * Logs a warning when it expires within `warnDays`.
 */
export async function loadRecipientKey(
  file: string,
  pinnedFingerprint: string | undefined,
  opts: { now?: Date; warnDays: number; log: Logger; purpose: string },
): Promise<{ key: openpgp.PublicKey; info: PgpKeyInfo }> {
  const now = opts.now ?? new Date();
  const what = `the ${opts.purpose} OpenPGP key ${file}`;
  if (!pinnedFingerprint) throw new ConfigError(`no pinned fingerprint is configured for ${what}`);
  const loaded = await loadKeyFile(file);
  const key = loaded.isPrivate() ? loaded.toPublic() : (loaded as openpgp.PublicKey);
  const fingerprint = key.getFingerprint().toUpperCase();
  if (fingerprint !== normalizeFingerprint(pinnedFingerprint)) {
    throw new PermanentError(`${what} has fingerprint ${fingerprint}, which does not match the pinned ${normalizeFingerprint(pinnedFingerprint)}`);
  }
  if (await key.isRevoked(undefined, undefined, now)) throw new PermanentError(`${what} (${fingerprint}) is revoked`);
  const primaryExpiry = await expirationOf(key, what);
  if (primaryExpiry && primaryExpiry <= now) {
    throw new PermanentError(`${what} (${fingerprint}) expired on ${primaryExpiry.toISOString().slice(0, 10)}`);
  }
  const encryptionKey = await key.getEncryptionKey(undefined, now).catch((err) => {
    throw new PermanentError(`${what} (${fingerprint}) has no valid encryption subkey: ${messageOf(err)}`);
  });
  const expiresAt = earliest(primaryExpiry, encryptionKey === key ? null : asDate(await encryptionKey.getExpirationTime(now)));
  const daysToExpiry = expiresAt ? Math.floor((expiresAt.getTime() - now.getTime()) / DAY_MS) : null;
  const info: PgpKeyInfo = { fingerprint, userIds: key.getUserIDs(), expiresAt, daysToExpiry };
  if (daysToExpiry !== null && daysToExpiry <= opts.warnDays) {
    opts.log.warn({ purpose: opts.purpose, file, fingerprint, expiresAt, daysToExpiry }, `${what} expires in ${daysToExpiry} days`);
  }
  return { key, info };
}

/**
 * Loads a private key, decrypting it with the passphrase when it is protected. Refuses a file
 * readable by group or other unless `allowInsecure` (as for the RSA report key).
 */
export async function loadPrivateKey(
  file: string,
  passphrase: string | undefined,
  { allowInsecure = false }: { allowInsecure?: boolean } = {},
): Promise<openpgp.PrivateKey> {
  const data = await readKeyFile(file);
  const mode = (await stat(file)).mode;
  if (!allowInsecure) refuseOpenSecretFile(file, mode, 'OpenPGP private key file');
  let key: openpgp.PrivateKey;
  try {
    key = startsWithArmor(data)
      ? await openpgp.readPrivateKey({ armoredKey: data.toString('utf8') })
      : await openpgp.readPrivateKey({ binaryKey: data });
  } catch (err) {
    throw new PermanentError(`${file} is not an OpenPGP private key: ${messageOf(err)}`, { cause: err });
  }
  if (key.isDecrypted()) return key;
  if (!passphrase) throw new ConfigError(`the OpenPGP private key ${file} is passphrase-protected, but no passphrase is set`);
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch (err) {
    throw new ConfigError(`cannot unlock the OpenPGP private key ${file}: wrong passphrase? (${messageOf(err)})`);
  }
}

/** Reads a public or private key file, armored or binary. */
export async function loadKeyFile(file: string): Promise<openpgp.Key> {
  const data = await readKeyFile(file);
  try {
    return startsWithArmor(data)
      ? await openpgp.readKey({ armoredKey: data.toString('utf8') })
      : await openpgp.readKey({ binaryKey: data });
  } catch (err) {
    throw new PermanentError(`${file} is not an OpenPGP key: ${messageOf(err)}`, { cause: err });
  }
}

/** Upper-case hex without spaces or 0x, as we compare fingerprints. */
export function normalizeFingerprint(text: string): string {
  return text.replace(/\s+/g, '').replace(/^0x/i, '').toUpperCase();
}

async function readKeyFile(file: string): Promise<Buffer> {
  try {
    const info = await stat(file);
    if (info.size > 1024 * 1024) throw new PermanentError(`${file} is ${info.size} bytes: too large for an OpenPGP key`);
    return await readFile(file);
  } catch (err) {
    if (err instanceof PermanentError) throw err;
    throw new ConfigError(`cannot read the OpenPGP key file ${file}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
}

async function expirationOf(key: openpgp.PublicKey, what: string): Promise<Date | null> {
  try {
    return asDate(await key.getExpirationTime());
  } catch (err) {
    throw new PermanentError(`${what} has no valid self-signature: ${messageOf(err)}`, { cause: err });
  }
}

function asDate(value: Date | number | null): Date | null {
  return value instanceof Date ? value : null;
}

function earliest(a: Date | null, b: Date | null): Date | null {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

export function startsWithArmor(head: Buffer): boolean {
  return head.subarray(0, 64).toString('latin1').trimStart().startsWith('-----BEGIN PGP');
}

/**
 * Reads up to `n` bytes from the head of a stream to sniff its format; `rest` yields the whole
 * content again (the same stream with the head put back, or a new one when it already ended).
 */
export async function peekBytes(stream: Readable, n: number): Promise<{ head: Buffer; rest: Readable }> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const chunk: Buffer | null = stream.read();
    if (chunk !== null) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      length += chunk.length;
      continue;
    }
    if (stream.readableEnded || stream.destroyed) break;
    await readableOrEnd(stream);
  }
  const head = Buffer.concat(chunks);
  if (stream.readableEnded) return { head, rest: Readable.from([head]) };
  if (head.length) stream.unshift(head);
  return { head, rest: stream };
}

function readableOrEnd(stream: Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => { cleanup(); resolve(); };
    const fail = (err: Error) => { cleanup(); reject(err); };
    const cleanup = () => {
      stream.off('readable', done);
      stream.off('end', done);
      stream.off('close', done);
      stream.off('error', fail);
    };
    stream.once('readable', done);
    stream.once('end', done);
    stream.once('close', done);
    stream.once('error', fail);
  });
}
