/**
 * The RSA decryption worker, as source text run with `new Worker(source, { eval: true })`.
 *
 * Why a string and not a worker file: the CLI runs the TypeScript sources through tsx registered in
 * the main thread only, and worker threads do not inherit that loader; plain CommonJS text runs the
 * same under tsx, mocha and compiled dist/ without any loader.
 *
 * Protocol: workerData = { key: KeyObject (private), blockSize }; each message { id, data: Uint8Array }
 * holds whole blocks; the reply is { id, clear: Uint8Array } or { id, failedBlock: index in the job }.
 */
export const RSA_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { privateDecrypt, constants } = require('node:crypto');
const key = workerData.key;
const k = workerData.blockSize;
const options = { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' };
parentPort.on('message', ({ id, data }) => {
  const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const blocks = input.length / k;
  const parts = [];
  for (let i = 0; i < blocks; i++) {
    try {
      parts.push(privateDecrypt(options, input.subarray(i * k, (i + 1) * k)));
    } catch {
      parentPort.postMessage({ id, failedBlock: i });
      return;
    }
  }
  const clear = Buffer.concat(parts);
  const out = new Uint8Array(clear.buffer, clear.byteOffset, clear.length);
  parentPort.postMessage({ id, clear: out }, clear.byteOffset === 0 && clear.length === clear.buffer.byteLength ? [clear.buffer] : []);
});
`;
