import type { KeyObject } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../threads.js';
import type { RsaWorkerSetup } from './rsa-worker.js';

/** The outcome of one job: its clear bytes, or the index (within the job) of the first block that failed. */
export type BlockJobResult = { clear: Buffer } | { failedBlock: number };

interface Pending {
  resolve(result: BlockJobResult): void;
  reject(err: Error): void;
}

/**
 * A fixed set of worker threads decrypting RSA-OAEP blocks with one private key. Jobs go to the
 * least busy worker; callers keep their own order (each job returns its own promise).
 */
export class RsaWorkerPool {
  private readonly workers: Worker[] = [];
  private readonly busy: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor(key: KeyObject, readonly blockSize: number, size: number) {
    for (let i = 0; i < size; i++) this.workers.push(this.spawn(key, i));
  }

  private spawn(key: KeyObject, index: number): Worker {
    const setup: RsaWorkerSetup = { key, blockSize: this.blockSize };
    const worker = startModuleWorker(import.meta.url, 'rsa-worker', setup);
    this.busy[index] = 0;
    worker.on('message', (msg: { id: number; clear?: Uint8Array; failedBlock?: number }) => {
      this.busy[index]!--;
      const job = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (!job) return;
      if (msg.clear) job.resolve({ clear: Buffer.from(msg.clear.buffer, msg.clear.byteOffset, msg.clear.byteLength) });
      else job.resolve({ failedBlock: msg.failedBlock ?? 0 });
    });
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => { if (code !== 0) this.failAll(new Error(`RSA worker exited with code ${code}`)); });
    return worker;
  }

  /** Decrypts whole blocks (data.length a multiple of blockSize). */
  decrypt(data: Buffer): Promise<BlockJobResult> {
    if (this.failure) return Promise.reject(this.failure);
    const index = this.busy.indexOf(Math.min(...this.busy));
    const id = this.nextId++;
    this.busy[index]!++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[index]!.postMessage({ id, data });
    });
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const job of this.pending.values()) job.reject(err);
    this.pending.clear();
  }

  /** Stops every worker; pending jobs reject. */
  async close(): Promise<void> {
    this.failAll(new Error('RSA worker pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
