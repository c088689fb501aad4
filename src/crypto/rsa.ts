import { constants, createPrivateKey, createPublicKey, publicEncrypt, type KeyObject } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { refuseOpenSecretFile } from '../config/secrets.js';
import { ConfigError, InputError } from '../errors.js';
import { RsaWorkerPool, type BlockJobResult } from './rsa-pool.js';

/** OAEP with SHA-1 spends 2 × 20 + 2 bytes of each block on padding (docs/bureau-interface.md §2). */
const OAEP_SHA1_OVERHEAD = 42;
/** Blocks per job sent to a worker: large enough to amortise messaging, small enough to spread work. */
const BLOCKS_PER_JOB = 64;

/** Clear bytes per block for a key of `blockSize` bytes. */
export function clearChunkSize(blockSize: number): number {
  return blockSize - OAEP_SHA1_OVERHEAD;
}

/**
 * Loads our RSA private key (PEM, optionally passphrase-protected). Refuses a file readable by group
 * or other unless `allowInsecure`: a report key lying open on disk is a finding in any audit.
 */
export function loadRsaPrivateKey(file: string, passphrase?: string, { allowInsecure = false } = {}): KeyObject {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    throw new ConfigError(`RSA private key file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (!allowInsecure) refuseOpenSecretFile(file, mode, 'RSA private key file', { hint: 'chmod 600 it, or set reports.allowInsecureKeyFile' });
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    // a key the daemon's user may not read (EACCES) is no reason to suspect the passphrase
    throw new ConfigError(`RSA private key file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
  } catch {
    // the driver's message may quote key material: say what is wrong without it
    throw new ConfigError(`RSA private key file ${file} cannot be loaded (not a PEM RSA private key, or wrong/missing passphrase)`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ConfigError(`key file ${file} holds a ${key.asymmetricKeyType} key, not RSA`);
  if (blockSizeOf(key) < 256) throw new ConfigError(`RSA key in ${file} is shorter than 2048 bits`);
  return key;
}

/** Modulus length in bytes: the size of every ciphertext block. */
export function blockSizeOf(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

export interface RsaDecryptOptions {
  key: KeyObject;
  /** the clear output file (created, must not exist) */
  destination: string;
  /** stop with an InputError when the clear text grows beyond this */
  maxBytes: number;
  /** worker threads; 0 = one per CPU core */
  workers?: number;
  /** stops the decryption (a time limit, shutdown): rejects with the signal's reason */
  signal?: AbortSignal;
}

/**
 * Decrypts a `.rsa` report file into `destination`, block by block across worker threads, keeping at
 * most a small window of jobs in memory and writing clear text in the original order. Bad input
 * (size not a multiple of the block, wrong key, corrupt or truncated block, too large) throws an
 * InputError saying which; the caller removes the partial destination. A file system error (the
 * destination cannot be created or written: ENOENT, EEXIST, EISDIR, ENOSPC…) rejects with that error
 * as it is: a local fault, not the report's.
 */
export async function decryptRsaFile(source: string, options: RsaDecryptOptions): Promise<{ clearBytes: number }> {
  options.signal?.throwIfAborted();
  const k = blockSizeOf(options.key);
  const size = statSync(source).size;
  if (size === 0) throw new InputError('encrypted report is empty');
  if (size % k !== 0) {
    throw new InputError(`encrypted size ${size} is not a multiple of the ${k}-byte RSA block: truncated or not an RSA report`);
  }
  // opened before any work: a destination that cannot be created fails at once, with its own error.
  // Every write is awaited on the handle, so a write error rejects here and nothing waits on a
  // stream that has already failed.
  const out = await open(options.destination, 'wx', 0o600);
  const jobs = Math.ceil(size / k / BLOCKS_PER_JOB);
  const workers = Math.max(1, Math.min(jobs, options.workers || availableParallelism()));
  const pool = new RsaWorkerPool(options.key, k, workers);
  let closed = false;
  try {
    const clearBytes = await decryptInOrder(createReadStream(source, { highWaterMark: k * BLOCKS_PER_JOB }), pool, out, options, workers * 3);
    closed = true;
    await out.close(); // a delayed write error (network file systems) surfaces here
    return { clearBytes };
  } finally {
    if (!closed) await out.close().catch(() => undefined);
    await pool.close();
  }
}

async function decryptInOrder(source: Readable, pool: RsaWorkerPool, out: FileHandle, options: RsaDecryptOptions, window: number): Promise<number> {
  const inFlight: Array<{ firstBlock: number; result: Promise<BlockJobResult> }> = [];
  let written = 0;
  let nextBlock = 0;
  const writeOldest = async () => {
    const job = inFlight.shift()!;
    const result = await job.result;
    if ('failedBlock' in result) {
      const block = job.firstBlock + result.failedBlock + 1;
      throw new InputError(`RSA block ${block} (offset ${(block - 1) * pool.blockSize}) does not decrypt: wrong key, or corrupt ciphertext`);
    }
    written += result.clear.length;
    if (written > options.maxBytes) throw new InputError(`clear report exceeds the limit of ${options.maxBytes} bytes (reports.maxClearBytes)`);
    await writeAll(out, result.clear);
    options.signal?.throwIfAborted();
  };
  try {
    for await (const data of wholeBlocks(source, pool.blockSize * BLOCKS_PER_JOB)) {
      options.signal?.throwIfAborted();
      const result = pool.decrypt(data);
      result.catch(() => undefined); // awaited in order below; never an unhandled rejection meanwhile
      inFlight.push({ firstBlock: nextBlock, result });
      nextBlock += data.length / pool.blockSize;
      if (inFlight.length >= window) await writeOldest();
    }
    while (inFlight.length) await writeOldest();
    return written;
  } finally {
    source.destroy();
  }
}

/** FileHandle.write may write less than asked (a full disk reports ENOSPC only on the next call). */
async function writeAll(out: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await out.write(data, offset, data.length - offset);
    if (bytesWritten === 0) throw new Error('the clear report file accepts no more bytes'); // never loop on a stuck file
    offset += bytesWritten;
  }
}

/** Re-chunks a byte (or text, as UTF-8) stream into buffers of exactly `size` bytes (the last one shorter). */
async function* wholeBlocks(source: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const piece of source as AsyncIterable<Buffer | string>) {
    const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
    pending.push(chunk);
    length += chunk.length;
    while (length >= size) {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
      yield all.subarray(0, size);
      pending = all.length > size ? [all.subarray(size)] : [];
      length -= size;
    }
  }
  if (length) yield Buffer.concat(pending);
}

/**
 * Encrypts clear report bytes the way the bureau does (RSA-OAEP-SHA1, chunks of k−42 bytes, blocks
 * concatenated). Used by the sandbox bureau simulator and the benchmark.
 */
export function encryptRsaReport(clear: Buffer, publicKeyPem: string | KeyObject): Buffer;
export function encryptRsaReport(clear: Readable, publicKeyPem: string | KeyObject): Readable;
export function encryptRsaReport(clear: Buffer | Readable, publicKeyPem: string | KeyObject): Buffer | Readable {
  const key = typeof publicKeyPem === 'string' ? createPublicKey(publicKeyPem) : publicKeyPem;
  const chunk = clearChunkSize(blockSizeOf(key));
  const encrypt = (part: Buffer) => publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, part);
  if (Buffer.isBuffer(clear)) {
    const blocks: Buffer[] = [];
    for (let i = 0; i < clear.length; i += chunk) blocks.push(encrypt(clear.subarray(i, i + chunk)));
    return Buffer.concat(blocks);
  }
  return Readable.from((async function* () {
    for await (const part of wholeBlocks(clear, chunk)) yield encrypt(part);
  })());
}
