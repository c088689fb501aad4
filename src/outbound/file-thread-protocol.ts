import type { Config } from '../config/schema.js';
import type { PageVerdict } from './screen.js';
import type { PersoPage } from '../db/perso-rows.js';
import type { WireError } from '../errors.js';
import type { PersoTotals } from '../perso/index.js';

/** What the file thread is started with (workerData.data). */
export interface FileThreadSetup {
  config: Config;
  businessDate: string;
  /** the PAN data keys, in memory only */
  panKey: Uint8Array;
  previousPanKey?: Uint8Array;
}

/** The file's header fields besides the cards (FileIdentity, with its date as text). */
export interface FileThreadIdentity {
  businessDate: string;
  sequence: number;
  createdAt: string;
}

/** Main thread → file thread. Each request with an `id` is answered once, in order. */
export type FileThreadRequest =
  | { id: number; type: 'screen'; page: PersoPage }
  | { id: number; type: 'render'; identity: FileThreadIdentity }
  | { id: number; type: 'claimed'; validCards: number }
  | { id: number; type: 'finish' }
  | { id: number; type: 'abort' }
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
