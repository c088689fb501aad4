import { createReadStream, createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { PermanentError, isSystemError, messageOf } from '../errors.js';
import { peekBytes, startsWithArmor } from './pgp-keys.js';

export { loadRecipientKey, loadPrivateKey, type PgpKeyInfo } from './pgp-keys.js';
export { pgpConfigFromConfig, type PgpEncryptionConfig } from './pgp-config.js';

/**
 * OpenPGP encryption and decryption of streams (openpgp 6 works on web streams: we convert at the
 * edges). Messages are SEIPDv1 and uncompressed, which every GnuPG since 2.0 reads.
 */

/** Nothing is compressed: the bureau's profile says so, and it keeps throughput predictable. */
const ENCRYPT_CONFIG: openpgp.PartialConfig = {
  preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed,
};

/** Encrypts (and optionally signs) a clear stream; the result streams with bounded memory. */
export function encryptStream(
  clear: Readable,
  opts: { recipients: openpgp.PublicKey[]; signingKey?: openpgp.PrivateKey; armor: boolean },
): Readable {
  if (opts.recipients.length === 0) throw new PermanentError('OpenPGP encryption needs at least one recipient key');
  const input = coalesce(clear, COALESCE_BYTES);
  return encryptOnThisThread(input, opts);
}

/** openpgp's cost per chunk is high: fewer, larger chunks than a file stream's cost less CPU (bench/RESULTS.md, "PGP and SFTP"). */
const COALESCE_BYTES = 256 * 1024;

/** Joins small chunks into chunks of at least `minBytes`; errors and destruction pass both ways. */
function coalesce(source: Readable, minBytes: number): Readable {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = () => {
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return chunk;
  };
  const joined = new Transform({
    transform(chunk: Buffer | string, _encoding, done) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      pending.push(data);
      pendingBytes += data.length;
      done(null, pendingBytes >= minBytes ? take() : undefined);
    },
    flush(done) {
      done(null, pendingBytes ? take() : undefined);
    },
  });
  pipeline(source, joined).catch(() => undefined); // the error reaches `joined`'s reader
  return joined;
}

function encryptOnThisThread(
  clear: Readable,
  opts: { recipients: openpgp.PublicKey[]; signingKey?: openpgp.PrivateKey; armor: boolean },
): Readable {
  const out = new PassThrough();
  let sourceError: Error | undefined;
  clear.once('error', (err) => (sourceError = err));
  startEncryption(clear, opts, out).catch((err) => {
    clear.destroy();
    // a failing source (database, renderer) keeps its own error, so its caller can classify it
    out.destroy(sourceError ?? new PermanentError(`OpenPGP encryption failed: ${messageOf(err)}`, { cause: err }));
  });
  return out;
}

async function startEncryption(
  clear: Readable,
  opts: { recipients: openpgp.PublicKey[]; signingKey?: openpgp.PrivateKey; armor: boolean },
  out: PassThrough,
): Promise<void> {
  const message = await openpgp.createMessage({ binary: Readable.toWeb(clear) as any, format: 'binary' });
  const format = opts.armor ? 'armored' : 'binary';
  const encrypted = await openpgp.encrypt({
    message,
    encryptionKeys: opts.recipients,
    signingKeys: opts.signingKey ? [opts.signingKey] : [],
    sessionKey: await seipdV1SessionKey(opts.recipients),
    format: format as 'binary',
    config: ENCRYPT_CONFIG,
  });
  await pipeline(Readable.fromWeb(encrypted as any), out);
}

/**
 * A session key without an AEAD algorithm, so openpgp writes SEIPDv1 even when a recipient key
 * advertises SEIPDv2: gpg 2.2 cannot read v2 ("encrypted_mdc packet with unknown version 2").
 */
async function seipdV1SessionKey(recipients: openpgp.PublicKey[]): Promise<openpgp.SessionKey> {
  const key = await openpgp.generateSessionKey({ encryptionKeys: recipients, config: ENCRYPT_CONFIG });
  return { data: key.data, algorithm: key.algorithm };
}

/**
 * The key IDs (hex) an OpenPGP file (binary or armored) is encrypted to, from its session key packets
 * at its head: openpgp stops parsing at the encrypted data, which is never read here.
 */
export async function encryptionKeyIdsOfFile(path: string): Promise<string[]> {
  const file = createReadStream(path);
  try {
    const message = await readMessage(file);
    return message.getEncryptionKeyIDs().map((id) => id.toHex());
  } finally {
    file.destroy();
  }
}

/** The key IDs a message encrypted now to these recipients carries: each one's encryption (sub)key. */
export async function recipientKeyIds(recipients: openpgp.PublicKey[], now = new Date()): Promise<string[]> {
  return Promise.all(recipients.map(async (key) => (await key.getEncryptionKey(undefined, now)).getKeyID().toHex()));
}

/** The message is not signed, or not by (only) the expected keys: PermanentError, told apart so callers can say so. */
export class PgpSignatureError extends PermanentError {
  override name = 'PgpSignatureError';
}

/**
 * Decrypts a (binary or armored) OpenPGP message into `destination`, streaming. The file is only
 * valid when this resolves: on any failure (integrity, signature, size over maxBytes) it is deleted
 * and a PermanentError is thrown (a PgpSignatureError for a missing or bad signature). An error of the
 * system (ENOSPC, EACCES, EIO writing or reading a local file) is thrown as it is: a local fault, which
 * says nothing about the message.
 * Clear text framed in pieces of a few bytes is refused (clearLimits), and so is a decryption that
 * spends more CPU than such framing could explain (CpuBudget). `signal` stops the decryption
 * (a time limit): it rejects with the signal's reason and the file is deleted.
 * With `verificationKeys`, every signature must verify with one of them. openpgp streams the clear
 * text before the signature at the end can be checked (allowUnauthenticatedStream), so the file is
 * accepted only once both the pipeline and the signature check have finished.
 */
export async function decryptToFile(
  encrypted: Readable,
  opts: {
    decryptionKey: openpgp.PrivateKey; verificationKeys?: openpgp.PublicKey[]; destination: string; maxBytes: number; signal?: AbortSignal;
    /** the size of the encrypted file, when known: it widens the CPU budget (cpuBudget) */
    encryptedBytes?: number;
    cpuBudget?: CpuBudget;
  },
): Promise<{ bytes: number; signatureVerified: boolean }> {
  const expectSigned = Boolean(opts.verificationKeys?.length);
  let bytes = 0;
  const cpu = cpuGuard(opts.cpuBudget ?? CPU_BUDGET, () => (opts.encryptedBytes ?? 0) + bytes);
  // openpgp wraps an error of its input met mid-packet into one of its own ("Parsing … failed: EIO"):
  // kept here, so that a read error of the local file stays a local fault, never the message's
  let readError: unknown;
  encrypted.once('error', (err) => (readError = err));
  try {
    const message = await readMessage(encrypted, cpu.check);
    // expectSigned is left to assertSignatureValid: openpgp's own check fails with messages that
    // cannot be told apart from other decryption errors
    const result = await openpgp.decrypt({
      message,
      decryptionKeys: opts.decryptionKey,
      verificationKeys: opts.verificationKeys,
      format: 'binary',
      config: { allowUnauthenticatedStream: true, maxDecompressedMessageSize: opts.maxBytes },
    });
    const counter = clearLimits(opts.maxBytes, (n) => (bytes = n), cpu.check);
    // the signal stops the work itself: a decryption left running after a time limit would go on
    // writing (and then deleting) the clear file that the next run of the same report uses
    await pipeline(Readable.fromWeb(result.data as any), counter, createWriteStream(opts.destination, { mode: 0o600 }), { signal: opts.signal });
    if (expectSigned) await assertSignatureValid(result.signatures, opts.verificationKeys!);
    return { bytes, signatureVerified: expectSigned };
  } catch (err) {
    encrypted.destroy();
    await unlink(opts.destination).catch(() => undefined);
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (cpu.exceeded) throw cpu.exceeded;
    if (isSystemError(readError)) throw readError;
    if (err instanceof PermanentError || isSystemError(err)) throw err;
    throw new PermanentError(`OpenPGP decryption failed: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * The CPU a decryption may spend: `baseMs`, plus `msPerMiB` for each MiB of encrypted and of clear
 * bytes. What any encoder writes costs openpgp ~40 ms per MiB (bzip2 and armor included); framing
 * chosen to exhaust it (partial lengths of a few bytes, outside or inside the encryption, under
 * a compression that hides the pieces from clearLimits) costs ~70–200 ms per KiB, hours for a few MB.
 * CPU, not wall time: a busy or suspended machine never makes a good report look hostile.
 */
export interface CpuBudget {
  baseMs: number;
  msPerMiB: number;
}
const CPU_BUDGET: CpuBudget = { baseMs: 30_000, msPerMiB: 250 };

/**
 * Throws (and keeps) a PermanentError once the process has spent more CPU since its start than the
 * budget allows. Checked synchronously wherever bytes pass (openpgp's work runs in long chains of
 * promises, during which no timer fires).
 */
function cpuGuard(budget: CpuBudget, bytesSoFar: () => number): { check: () => void; exceeded: PermanentError | undefined } {
  const start = process.cpuUsage();
  const guard = {
    exceeded: undefined as PermanentError | undefined,
    check: () => {
      if (guard.exceeded) throw guard.exceeded;
      const { user, system } = process.cpuUsage(start);
      const spentMs = (user + system) / 1000;
      const allowedMs = budget.baseMs + (budget.msPerMiB * bytesSoFar()) / 2 ** 20;
      if (spentMs <= allowedMs) return;
      guard.exceeded = new PermanentError(`decrypting took ${Math.round(spentMs / 1000)} s of CPU for ${bytesSoFar()} bytes, over the budget of ` +
        `${Math.round(allowedMs / 1000)} s: the message is framed to exhaust the decryption (OpenPGP partial lengths of a few bytes)`);
      throw guard.exceeded;
    },
  };
  return guard;
}

/** Encrypted bytes go to openpgp in pieces of at most this size, the CPU checked before each one. */
const GUARDED_PIECE = 16 * 1024;

async function* guarded(source: Readable, check: () => void): AsyncGenerator<Buffer> {
  for await (const chunk of source as AsyncIterable<Buffer>) {
    for (let at = 0; at < chunk.length; at += GUARDED_PIECE) {
      check();
      yield chunk.subarray(at, at + GUARDED_PIECE);
    }
  }
}

async function readMessage(encrypted: Readable, check: () => void = () => undefined): Promise<openpgp.Message<any>> {
  const { head, rest } = await peekBytes(encrypted, 64);
  const web = Readable.toWeb(Readable.from(guarded(rest, check))) as any;
  return startsWithArmor(head)
    ? openpgp.readMessage({ armoredMessage: web.pipeThrough(new TextDecoderStream()) })
    : openpgp.readMessage({ binaryMessage: web });
}

async function assertSignatureValid(signatures: Array<{ keyID: openpgp.KeyID; verified: Promise<true> }>, keys: openpgp.PublicKey[]): Promise<void> {
  if (signatures.length === 0) throw new PgpSignatureError('the message is not signed');
  try {
    await Promise.all(signatures.map((s) => s.verified));
  } catch (err) {
    throw new PgpSignatureError(`the message signature is not valid: ${messageOf(err)}`, { cause: err });
  }
  // openpgp judges the signing (sub)key at the signature's creation time, which the signer writes: a
  // subkey expired or retired since (old key material, the kind that leaks) could sign "in the past"
  const now = new Date();
  for (const { keyID } of signatures) {
    const key = keys.find((k) => k.getKeys(keyID).length > 0)!;
    await key.getSigningKey(keyID, now).catch((err) => {
      throw new PgpSignatureError(`the message is signed by the (sub)key ${keyID.toHex()}, which is no longer a valid signing key (expired or revoked): ${messageOf(err)}`, { cause: err });
    });
  }
}

/**
 * The clear text arrives in the pieces the writer framed it in (partial body lengths, outside the
 * encryption and the signature, may be 1 byte each), and openpgp spends ~0.1 ms on every piece: a
 * few MB cut into 1-byte pieces would hold a run for hours. Encoders write pieces of 512 bytes or
 * more (openpgp.js at least 512, GnuPG 8 KiB, zlib output thousands): after MIN_PIECES_JUDGED pieces,
 * an average under MIN_AVERAGE_PIECE bytes is refused as hostile framing.
 */
const MIN_PIECES_JUDGED = 4096;
const MIN_AVERAGE_PIECE = 256;

/** Counts bytes and pieces through, failing as soon as the clear text grows past `maxBytes` or comes in tiny pieces. */
function clearLimits(maxBytes: number, report: (bytes: number) => void, check: () => void): Transform {
  let total = 0;
  let pieces = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      pieces++;
      report(total);
      try {
        check();
      } catch (err) {
        return done(err as Error);
      }
      if (total > maxBytes) done(new PermanentError(`the decrypted content exceeds the limit of ${maxBytes} bytes`));
      else if (pieces >= MIN_PIECES_JUDGED && total < pieces * MIN_AVERAGE_PIECE) {
        done(new PermanentError(`the decrypted content comes in pieces of ${Math.floor(total / pieces)} bytes on average after ${total} bytes ` +
          `(OpenPGP partial lengths under ${MIN_AVERAGE_PIECE} bytes, which no encoder writes): refused, decrypting it would take hours`));
      } else done(null, chunk);
    },
  });
}
