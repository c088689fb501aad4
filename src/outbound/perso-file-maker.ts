import type { Readable } from 'node:stream';
import type { Config } from '../config/schema.js';
import { encryptStream, pgpConfigFromConfig } from '../crypto/pgp.js';
import type { Logger } from '../log.js';
import { loadLayout, personalizationFileName, prepareCard, renderPersoFile, renderPreparedFile, type FileContext, type PersoFileStream } from '../perso/index.js';
import type { FileIdentity, PersoFileMaker, RenderedFile } from './perso-file.js';

/**
 * The PersoFileMaker of the configured bureau profile: layout and names from config.perso, keys
 * from config.pgp (bureau key pinned and checked for expiry and revocation at `now`).
 */
export async function makePersoFileMaker(config: Config, deps: { log: Logger; now: Date }): Promise<PersoFileMaker> {
  const layout = loadLayout(config.perso.layout, config.perso.layoutsDir);
  const pgp = await pgpConfigFromConfig(config.pgp, deps);
  return {
    fileName: (businessDate, sequence) => personalizationFileName(config.perso.fileNamePattern, config.issuer.code, businessDate, sequence),
    validate: (contract, businessDate) => prepareCard(layout, contract, businessDate),
    render: (file, contracts) => rendered(renderPersoFile(layout, context(file), contracts)),
    renderPrepared: (file, cards) => rendered(renderPreparedFile(layout, context(file), cards)),
    encrypt: (clear: Readable) => encryptStream(clear, { recipients: pgp.recipients, signingKey: pgp.signingKey, armor: pgp.armor }),
  };

  function context(file: FileIdentity): FileContext {
    return {
      issuerCode: config.issuer.code, bureauCode: config.bureau.code, businessDate: file.businessDate, sequence: file.sequence,
      createdAt: file.createdAt, environment: config.environment, lineEnding: config.perso.lineEnding,
    };
  }
}

function rendered(clear: PersoFileStream): RenderedFile {
  return {
    clear,
    totals() {
      if (!clear.totals) throw new Error('file totals read before the file was complete');
      return clear.totals;
    },
  };
}
