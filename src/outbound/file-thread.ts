import { Readable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import type { PersoPage } from '../db/perso-rows.js';
import { fromWireError, type WireError } from '../errors.js';
import type { PersoTotals } from '../perso/index.js';
import type { PanCipher } from '../security/pan.js';
import { startModuleWorker } from '../threads.js';
import { clearFile, type ClearPersoFile, type PersoFileIdentity } from './perso-file.js';
import type { PageVerdict, ScreenRoute } from './screen.js';

/** What the file thread is started with (workerData.data). */
export interface FileThreadSetup {
  config: Config;
  businessDate: string;
  /** the bureau the cards are screened for, when cards may go to another (screen.ts) */
  route?: ScreenRoute;
  /** the PAN data keys, in memory only */
  panKey: Uint8Array;
  previousPanKey?: Uint8Array;
}

/** Main thread → file thread. Each request with an `id` is answered once, in order. */
export type FileThreadRequest =
  | { id: number; type: 'screen'; page: PersoPage }
  | { id: number; type: 'render'; identity: WireIdentity }
  | { id: number; type: 'claimed'; contractIds: number[] }
  | { id: number; type: 'finish' }
  /** the main thread has taken this many more clear bytes (flow control) */
  | { type: 'consumed'; bytes: number };

/** File thread → main thread. */
export type FileThreadReply =
  | { id: number; type: 'done'; verdict?: PageVerdict }
  | { id: number; type: 'failed'; error: WireError }
  /** the clear file, chunk by chunk (moved, not copied), then its end or its failure */
  | { type: 'clear'; data: Uint8Array }
  | { type: 'clear-end'; totals: PersoTotals }
  | { type: 'clear-failed'; error: WireError };

/** A PersoFileIdentity as it crosses to the thread (its date as text). */
export type WireIdentity = Omit<PersoFileIdentity, 'createdAt'> & { createdAt: string };

export interface FileThreadOptions {
  config: Config;
  cipher: PanCipher;
  businessDate: string;
  route?: ScreenRoute;
}

type Done = Extract<FileThreadReply, { type: 'done' }>;
type Pending = { resolve(reply: Done): void; reject(err: Error): void };
type Request = FileThreadRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * The file thread's heap, kept small: its garbage is many small, short-lived objects, and its live set
 * is a few pages of cards and chunks whatever the batch size. With V8's defaults its old generation
 * grows well past that live set before it is collected, which the send's peak RSS shows; the cap keeps
 * it near the live set, with room to spare (the caps tried, and the peak RSS of each: bench/RESULTS.md,
 * "File thread old generation capped"). Reaching the cap ends the thread with
 * "ERR_WORKER_OUT_OF_MEMORY" and fails the claim (nothing is committed).
 */
const FILE_THREAD_LIMITS = { maxYoungGenerationSizeMb: 12, maxOldGenerationSizeMb: 64 };

/** Clear bytes buffered on this side before the thread is told to wait. */
const CLEAR_BUFFER_BYTES = 1024 * 1024;

/**
 * The second core of a claim. On a worker thread, each page the claim reads is screened (PANs
 * decrypted, cards checked and prepared) while the claim reads and writes the database here, and
 * the valid cards of each claimed page are rendered into the clear file, which comes back here
 * chunk by chunk (in memory only) to be encrypted into the outbox. The work is split so that both
 * threads are about as busy (bench/RESULTS.md). The thread starts with the first page and ends with
 * `finish` or `abort`.
 */
export class FileThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private clear: (Readable & { totals?: PersoTotals }) | undefined;
  private untaken = 0;
  private stopping: Promise<void> | undefined;
  /** the thread ended by itself (not stopped): every request fails */
  private readonly exited = (code: number) => this.fail(new Error(`the file thread exited (code ${code})`));

  constructor(private readonly options: FileThreadOptions) {}

  /** Our verdict on the contracts of the page; the valid ones wait in the thread for `claimed`. */
  async screen(page: PersoPage): Promise<PageVerdict> {
    return (await this.request({ type: 'screen', page })).verdict!;
  }

  /** Starts the batch's clear file, with the cards `claimed` tells of; it ends after `finish`. */
  render(identity: PersoFileIdentity): ClearPersoFile {
    if (this.clear) throw new Error('the file was started twice');
    const clear: Readable & { totals?: PersoTotals } = new Readable({ highWaterMark: CLEAR_BUFFER_BYTES, read: () => this.takenAll() });
    this.clear = clear;
    this.request({ type: 'render', identity: { ...identity, createdAt: identity.createdAt.toISOString() } })
      .catch((err: Error) => clear.destroy(err));
    return clearFile(clear);
  }

  /** These screened valid cards (by contract id) are the batch's next records, in this order. */
  async claimed(contractIds: number[]): Promise<void> {
    await this.request({ type: 'claimed', contractIds });
  }

  /** No more cards: the clear file ends (trailer) and the thread ends. */
  async finish(): Promise<void> {
    try {
      await this.request({ type: 'finish' });
    } finally {
      await this.stop();
    }
  }

  /** The claim failed: the clear file fails and the thread ends, whatever it was doing. */
  async abort(): Promise<void> {
    this.clear?.destroy(new Error('the claim was abandoned'));
    await this.stop();
  }

  private request(request: Request): Promise<Done> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const reply = new Promise<Done>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.thread().postMessage({ ...request, id });
    return reply;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const { config, cipher, businessDate, route } = this.options;
    const keys = cipher.keyMaterial();
    const setup: FileThreadSetup = {
      config, businessDate, ...(route ? { route } : {}),
      panKey: new Uint8Array(keys.key), ...(keys.previousKey ? { previousPanKey: new Uint8Array(keys.previousKey) } : {}),
    };
    const worker = startModuleWorker(import.meta.url, 'file-thread-worker', setup, FILE_THREAD_LIMITS);
    worker.on('message', (reply: FileThreadReply) => this.onReply(reply));
    worker.on('error', (err) => this.fail(new Error(`the file thread failed: ${err.message}`)));
    worker.on('exit', this.exited);
    this.worker = worker;
    return worker;
  }

  private onReply(reply: FileThreadReply): void {
    switch (reply.type) {
      case 'clear': {
        const chunk = Buffer.from(reply.data.buffer, reply.data.byteOffset, reply.data.byteLength);
        this.untaken += chunk.length;
        if (this.clear?.push(chunk)) this.takenAll();
        return;
      }
      case 'clear-end':
        if (this.clear) this.clear.totals = reply.totals;
        this.clear?.push(null);
        return;
      case 'clear-failed':
        this.clear?.destroy(fromWireError(reply.error));
        return;
      default: {
        const waiting = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (reply.type === 'done') waiting?.resolve(reply);
        else waiting?.reject(fromWireError(reply.error));
      }
    }
  }

  /** Tells the thread that the clear bytes sent so far are taken: it may send more. */
  private takenAll(): void {
    if (!this.untaken) return;
    this.worker?.postMessage({ type: 'consumed', bytes: this.untaken });
    this.untaken = 0;
  }

  /** Every request still waiting fails with `err`, and so does every later one (and the clear file). */
  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiting of this.pending.values()) waiting.reject(err);
    this.pending.clear();
    this.clear?.destroy(err);
  }

  /**
   * Ends the thread once, however many callers ask (`abort` while `finish` waits: the rejected
   * `finish` stops it too). A second `terminate` must not run beside the first: removing the exit
   * listeners again would remove the one the first `terminate` waits on, which then never resolves.
   */
  private stop(): Promise<void> {
    this.stopping ??= this.endThread();
    return this.stopping;
  }

  private async endThread(): Promise<void> {
    this.failure ??= new Error('the file thread has ended');
    for (const waiting of this.pending.values()) waiting.reject(this.failure);
    this.pending.clear();
    const worker = this.worker;
    if (!worker) return;
    worker.off('exit', this.exited);
    await worker.terminate();
  }
}
