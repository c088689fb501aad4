/**
 * An RSA decryption thread of RsaWorkerPool (rsa-pool.ts), started with startModuleWorker.
 *
 * Protocol: workerData.data = { key: KeyObject (private), blockSize }; each message { id, data: Uint8Array }
 * holds whole blocks; the reply is { id, clear: Uint8Array } or { id, failedBlock: index in the job }.
 */
import { constants, privateDecrypt, type KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';

export interface RsaWorkerSetup {
  key: KeyObject;
  blockSize: number;
}

const { key, blockSize } = (workerData as { data: RsaWorkerSetup }).data;
const port = parentPort!;
const options = { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' };

port.on('message', ({ id, data }: { id: number; data: Uint8Array }) => {
  const input = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length / blockSize; i++) {
    try {
      parts.push(privateDecrypt(options, input.subarray(i * blockSize, (i + 1) * blockSize)));
    } catch {
      port.postMessage({ id, failedBlock: i });
      return;
    }
  }
  const clear = Buffer.concat(parts);
  const out = new Uint8Array(clear.buffer, clear.byteOffset, clear.length);
  // moved, not copied, when the clear bytes fill their buffer alone
  port.postMessage({ id, clear: out }, clear.byteOffset === 0 && clear.length === clear.buffer.byteLength ? [clear.buffer as ArrayBuffer] : []);
});
