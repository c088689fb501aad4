import type { Readable } from 'node:stream';
import type { ContractForPerso } from '../domain/contract.js';
import type { Prepared, PreparedCard } from '../perso/index.js';

/** The clear personalization file of one batch, as a stream; totals are known once it has ended. */
export interface RenderedFile {
  clear: Readable;
  totals(): { records: number; hashTotal: string };
}

/** What is rendered into a file's header and trailer besides the cards. */
export interface FileIdentity {
  businessDate: string;
  sequence: number;
  /** the batch's creation time: a re-render after a crash yields the same clear bytes */
  createdAt: Date;
}

/** The bureau profile (layout, names) that turns contracts into a clear file: `makePersoRenderer` builds it from config. */
export interface PersoRenderer {
  fileName(businessDate: string, sequence: number): string;
  /** our own validation of one card (PAN-safe reason); a valid card comes back prepared for renderPrepared */
  validate(contract: ContractForPerso, businessDate: string): Prepared;
  render(file: FileIdentity, contracts: AsyncIterable<ContractForPerso>): RenderedFile;
  /** the same bytes as `render` of their contracts, from cards `validate` prepared for the file's business date */
  renderPrepared(file: FileIdentity, cards: AsyncIterable<PreparedCard>): RenderedFile;
}

/**
 * Everything the send job needs to turn contracts into one encrypted file: the bureau profile and
 * the keys. `makePersoFileMaker` in perso-file-maker.ts builds it from config.
 */
export interface PersoFileMaker extends PersoRenderer {
  /** the OpenPGP message for the bureau (and archive key, optionally signed) */
  encrypt(clear: Readable): Readable;
}
