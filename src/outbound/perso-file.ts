// The batch's personalization file: what names it, how it is rendered (the bureau profile) and encrypted (the keys).
import type { Readable } from 'node:stream';
import type { Config } from '../config/schema.js';
import type { ContractForPerso } from '../domain/contract.js';
import type { Logger } from '../log.js';
import {
  loadLayout, personalizationFileName, prepareCard, renderPersoFile, renderPreparedFile, type FileContext, type PersoFileStream, type Prepared, type PreparedCard,
} from '../perso/index.js';

/** What is rendered into a file's header and trailer besides the cards. */
export interface PersoFileIdentity {
  businessDate: string;
  sequence: number;
  /** the batch's creation time: a re-render after a crash yields the same clear bytes */
  createdAt: Date;
}

/** The clear personalization file of one batch, as a stream; totals are known once it has ended. */
export interface ClearPersoFile {
  clear: Readable;
  totals(): { records: number; hashTotal: string };
}

/** The bureau profile (layout, names) that turns contracts into a clear file, without keys: `makePersoFormat`. */
export interface PersoFormat {
  fileName(businessDate: string, sequence: number): string;
  /** our own validation of one card (PAN-safe reason); a valid card comes back prepared for renderPrepared */
  validate(contract: ContractForPerso, businessDate: string): Prepared;
  render(file: PersoFileIdentity, contracts: AsyncIterable<ContractForPerso>): ClearPersoFile;
  /** the same bytes as `render` of their contracts, from cards `validate` prepared for the file's business date */
  renderPrepared(file: PersoFileIdentity, cards: AsyncIterable<PreparedCard>): ClearPersoFile;
}

/** Everything the send job needs to turn contracts into one encrypted file: the format and the keys (`makePersoFileMaker`). */
export interface PersoFileMaker extends PersoFormat {
  /** the OpenPGP message for the bureau (and archive key, optionally signed) */
  encrypt(clear: Readable): Readable;
  /** the key IDs `encrypt` encrypts to (its message's session key packets), to tell a file made for other keys */
  readonly recipientKeyIds: readonly string[];
}

/**
 * The PersoFormat of the configured bureau profile: layout and names from config.perso. No keys
 * and no OpenPGP: the file thread renders with it and loads nothing else.
 */
export function makePersoFormat(config: Config): PersoFormat {
  const layout = loadLayout(config.perso.layout, config.perso.layoutsDir);
  return {
    fileName: (businessDate, sequence) => personalizationFileName(config.perso.fileNamePattern, config.issuer.code, businessDate, sequence),
    validate: (contract, businessDate) => prepareCard(layout, contract, businessDate),
    render: (file, contracts) => clearFile(renderPersoFile(layout, context(file), contracts)),
    renderPrepared: (file, cards) => clearFile(renderPreparedFile(layout, context(file), cards)),
  };

  function context(file: PersoFileIdentity): FileContext {
    return {
      issuerCode: config.issuer.code, bureauCode: config.bureau.code, businessDate: file.businessDate, sequence: file.sequence,
      createdAt: file.createdAt, environment: config.environment, lineEnding: config.perso.lineEnding,
    };
  }
}

/**
 * The PersoFileMaker of the configured bureau profile: the format from config.perso, keys from
 * config.pgp (bureau key pinned and checked for expiry and revocation at `now`). OpenPGP is loaded
 * here only, so that the file thread, which imports this module for its format, does without it.
 */
export async function makePersoFileMaker(config: Config, deps: { log: Logger; now: Date }): Promise<PersoFileMaker> {
  const { encryptStream, pgpConfigFromConfig, recipientKeyIds } = await import('../crypto/pgp.js');
  const format = makePersoFormat(config);
  const pgp = await pgpConfigFromConfig(config.pgp, deps);
  return {
    ...format,
    encrypt: (clear: Readable) => encryptStream(clear, { recipients: pgp.recipients, signingKey: pgp.signingKey, armor: pgp.armor }),
    recipientKeyIds: await recipientKeyIds(pgp.recipients, deps.now),
  };
}

/** The clear stream with its totals, once ended. */
export function clearFile(clear: PersoFileStream): ClearPersoFile {
  return {
    clear,
    totals() {
      if (!clear.totals) throw new Error('file totals read before the file was complete');
      return clear.totals;
    },
  };
}
