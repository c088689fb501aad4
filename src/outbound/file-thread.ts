import type { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import type { ClaimedBatch, EncryptedFile, PageVerdict } from '../db/batches.js';
import type { PersoPage } from '../db/perso-rows.js';
import { fromWireError, toWireError } from '../errors.js';
import type { PanCipher } from '../security/pan.js';
import { startModuleWorker } from '../threads.js';
import type { FileThreadReply, FileThreadRequest, FileThreadSetup } from './file-thread-protocol.js';

export interface FileThreadOptions {
  config: Config;
  cipher: PanCipher;
  businessDate: string;
  now: Date;
  outbox: string;
  /** called once, when the first clear bytes flow (fault injection in tests); the file waits for it */
  onFirstBytes?: () => void | Promise<void>;
}

type Pending = { resolve(reply: Extract<FileThreadReply, { type: 'done' }>): void; reject(err: Error): void };
type Request = FileThreadRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * The second core of a claim: on a worker thread, each page the claim reads is screened (PANs
 * decrypted, cards checked and prepared) while the claim reads and writes the database on this
 * thread, and the valid cards of each claimed page are rendered, encrypted and written to the
 * batch's outbox file there (buildEncryptedFile: the clear file never touches disk). The thread is
 * started with the first page and ends with `finish` or `abort`.
 */
export class FileThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(private readonly options: FileThreadOptions) {}

  /** Our verdict on the contracts of the page; the valid ones wait in the thread for `claimed`. */
  async screen(page: PersoPage): Promise<PageVerdict> {
    return (await this.request({ type: 'screen', page })).verdict!;
  }

  /** The next `validCards` screened valid cards are the batch's next records: they go into its file. */
  async claimed(batch: ClaimedBatch, validCards: number): Promise<void> {
    const { fileName, sequence, createdAt } = batch;
    await this.request({ type: 'claimed', batch: { fileName, sequence, createdAt, businessDate: this.options.businessDate }, validCards });
  }

  /** No more cards: the file is completed (trailer, synced, renamed into the outbox) and the thread ends. */
  async finish(): Promise<EncryptedFile> {
    try {
      return (await this.request({ type: 'finish' })).file!;
    } finally {
      await this.stop();
    }
  }

  /** The claim failed: the half-written file is removed and the thread ends. */
  async abort(): Promise<void> {
    if (!this.worker) return;
    try {
      if (!this.failure) await this.request({ type: 'abort' });
    } finally {
      await this.stop();
    }
  }

  private request(request: Request): Promise<Extract<FileThreadReply, { type: 'done' }>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const reply = new Promise<Extract<FileThreadReply, { type: 'done' }>>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.thread().postMessage({ ...request, id });
    return reply;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const { config, cipher, businessDate, now, outbox } = this.options;
    const keys = cipher.keyMaterial();
    const setup: FileThreadSetup = {
      config, businessDate, now: now.toISOString(), outbox,
      panKey: new Uint8Array(keys.key), ...(keys.previousKey ? { previousPanKey: new Uint8Array(keys.previousKey) } : {}),
    };
    const worker = startModuleWorker(import.meta.url, 'file-thread-worker', setup);
    worker.on('message', (reply: FileThreadReply) => this.onReply(reply));
    worker.on('error', (err) => this.fail(new Error(`the file thread failed: ${err.message}`)));
    worker.on('exit', (code) => this.fail(new Error(`the file thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private onReply(reply: FileThreadReply): void {
    if (reply.type === 'first-bytes') {
      Promise.resolve().then(this.options.onFirstBytes).then(
        () => this.worker?.postMessage({ type: 'first-bytes-ok' }),
        (err) => this.worker?.postMessage({ type: 'first-bytes-failed', error: toWireError(err) }),
      );
      return;
    }
    const waiting = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (reply.type === 'done') waiting?.resolve(reply);
    else waiting?.reject(fromWireError(reply.error));
  }

  /** Every request still waiting fails with `err`, and so does every later one. */
  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiting of this.pending.values()) waiting.reject(err);
    this.pending.clear();
  }

  private async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.failure ??= new Error('the file thread has ended');
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}
