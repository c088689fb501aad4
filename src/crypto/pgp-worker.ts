import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type * as openpgp from 'openpgp';
import { PermanentError } from '../errors.js';

/**
 * OpenPGP encryption on a worker thread, so that encrypting and what surrounds it (rendering
 * records, the SSH transport) can use two cores instead of taking turns on one. Opt-in
 * (`inWorker: true`): it costs ~60–90 MB more RSS than encrypting on the calling thread, and on
 * the loaded 2-core test machine it did not finish sooner (bench/RESULTS.md, "PGP and SFTP").
 *
 * The worker is CommonJS source text run with `eval: true` (worker threads do not inherit the tsx
 * loader; see rsa-worker.ts). Flow control both ways keeps memory bounded: the main thread stops
 * reading clear text while more than IN_FLIGHT_LIMIT bytes wait in the worker, and the worker stops
 * emitting when the output stream is full.
 *
 * Messages: main → worker { type: 'in', data } | { type: 'end' } | { type: 'pause' } | { type: 'resume' };
 * worker → main { type: 'consumed', bytes } | { type: 'out', data } | { type: 'done' } | { type: 'error', message }.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const openpgp = require(workerData.openpgpPath);
const config = { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed };
const queue = [];
let ended = false;
let wakeInput = null;
let paused = false;
let wakeOutput = null;
parentPort.on('message', (msg) => {
  if (msg.type === 'in') queue.push(msg.data);
  else if (msg.type === 'end') ended = true;
  else if (msg.type === 'pause') paused = true;
  else if (msg.type === 'resume') { paused = false; if (wakeOutput) { wakeOutput(); wakeOutput = null; } }
  if (wakeInput && (queue.length || ended)) { wakeInput(); wakeInput = null; }
});
const input = new ReadableStream({
  async pull(controller) {
    while (!queue.length && !ended) await new Promise((resolve) => (wakeInput = resolve));
    if (queue.length) {
      const chunk = queue.shift();
      parentPort.postMessage({ type: 'consumed', bytes: chunk.byteLength });
      controller.enqueue(chunk);
    } else controller.close();
  },
}, { highWaterMark: 0 });
(async () => {
  const encryptionKeys = await Promise.all(workerData.recipients.map((armoredKey) => openpgp.readKey({ armoredKey })));
  const signingKeys = workerData.signingKey ? [await openpgp.readPrivateKey({ armoredKey: workerData.signingKey })] : [];
  const sessionKey = await openpgp.generateSessionKey({ encryptionKeys, config });
  const message = await openpgp.createMessage({ binary: input, format: 'binary' });
  const encrypted = await openpgp.encrypt({
    message, encryptionKeys, signingKeys, config,
    sessionKey: { data: sessionKey.data, algorithm: sessionKey.algorithm },
    format: workerData.armor ? 'armored' : 'binary',
  });
  const reader = encrypted.getReader();
  for (;;) {
    while (paused) await new Promise((resolve) => (wakeOutput = resolve));
    const { done, value } = await reader.read();
    if (done) break;
    // a copy of just this view (openpgp's chunks may be views of larger buffers), then moved, not cloned
    const data = typeof value === 'string' ? value : value.slice();
    parentPort.postMessage({ type: 'out', data }, typeof data === 'string' ? [] : [data.buffer]);
  }
  parentPort.postMessage({ type: 'done' });
  parentPort.close();
})().catch((err) => {
  parentPort.postMessage({ type: 'error', message: err && err.message ? err.message : String(err) });
  parentPort.close();
});
`;

const IN_FLIGHT_LIMIT = 2 * 1024 * 1024;
const OUTPUT_BUFFER_BYTES = 1024 * 1024;
const OPENPGP_CJS = createRequire(import.meta.url).resolve('openpgp');

type WorkerMessage =
  | { type: 'consumed'; bytes: number }
  | { type: 'out'; data: Uint8Array | string }
  | { type: 'done' }
  | { type: 'error'; message: string };

/** Same contract as encryptStream: SEIPDv1, uncompressed, streaming with bounded memory. */
export function encryptStreamInWorker(
  clear: Readable,
  opts: { recipients: openpgp.PublicKey[]; signingKey?: openpgp.PrivateKey; armor: boolean },
): Readable {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      openpgpPath: OPENPGP_CJS,
      recipients: opts.recipients.map((key) => key.armor()),
      // the unlocked signing key crosses to the thread in memory only
      signingKey: opts.signingKey?.armor(),
      armor: opts.armor,
    },
  });
  let finished = false;
  let inFlight = 0;
  const out = new Readable({
    // room for a few chunks, so that the worker is not paused and resumed for every one
    highWaterMark: OUTPUT_BUFFER_BYTES,
    read: () => worker.postMessage({ type: 'resume' }),
    destroy: (err, callback) => {
      finished = true;
      clear.destroy();
      void worker.terminate();
      callback(err);
    },
  });
  const fail = (err: Error) => {
    if (!finished) out.destroy(err);
  };

  worker.on('message', (msg: WorkerMessage) => {
    if (msg.type === 'consumed') {
      inFlight -= msg.bytes;
      if (inFlight < IN_FLIGHT_LIMIT && clear.isPaused()) clear.resume();
    } else if (msg.type === 'out') {
      const chunk = typeof msg.data === 'string' ? Buffer.from(msg.data) : Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
      if (!out.push(chunk)) worker.postMessage({ type: 'pause' });
    } else if (msg.type === 'done') {
      finished = true;
      out.push(null);
    } else {
      fail(new PermanentError(`OpenPGP encryption failed: ${msg.message}`));
    }
  });
  worker.on('error', (err) => fail(new PermanentError(`OpenPGP encryption worker failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) => fail(new PermanentError(`OpenPGP encryption worker exited (code ${code}) before the end`)));

  clear.on('data', (chunk: Buffer | string) => {
    // a copy of just this chunk (it may be a view of a larger buffer the caller still uses), moved
    const data = typeof chunk === 'string' ? new Uint8Array(Buffer.from(chunk)) : Uint8Array.prototype.slice.call(chunk);
    inFlight += data.byteLength;
    worker.postMessage({ type: 'in', data }, [data.buffer]);
    if (inFlight >= IN_FLIGHT_LIMIT) clear.pause();
  });
  clear.once('end', () => worker.postMessage({ type: 'end' }));
  // a failing source (database, renderer) keeps its own error, so its caller can classify it
  clear.once('error', fail);
  return out;
}
