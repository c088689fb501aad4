import type { Config } from '../config/schema.js';
import type { EncryptedFile, PageVerdict } from '../db/batches.js';
import type { PersoPage } from '../db/perso-rows.js';
import type { WireError } from '../errors.js';

/** What the file thread is started with (workerData.data). */
export interface FileThreadSetup {
  config: Config;
  businessDate: string;
  /** when the job run started: the bureau key's expiry is checked at that time */
  now: string;
  /** the PAN data keys, in memory only */
  panKey: Uint8Array;
  previousPanKey?: Uint8Array;
  outbox: string;
}

/** The batch a claimed page belongs to, as its file's header names it. */
export interface FileThreadBatch {
  fileName: string;
  businessDate: string;
  sequence: number;
  createdAt: string;
}

/** Main thread → file thread. Each request with an `id` is answered once, in order. */
export type FileThreadRequest =
  | { id: number; type: 'screen'; page: PersoPage }
  | { id: number; type: 'claimed'; batch: FileThreadBatch; validCards: number }
  | { id: number; type: 'finish' }
  | { id: number; type: 'abort' }
  | { type: 'first-bytes-ok' }
  | { type: 'first-bytes-failed'; error: WireError };

/** File thread → main thread. */
export type FileThreadReply =
  | { id: number; type: 'done'; verdict?: PageVerdict; file?: EncryptedFile }
  | { id: number; type: 'failed'; error: WireError }
  | { type: 'first-bytes' };
