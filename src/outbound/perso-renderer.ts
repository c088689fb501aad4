import type { Config } from '../config/schema.js';
import { loadLayout, personalizationFileName, prepareCard, renderPersoFile, renderPreparedFile, type FileContext, type PersoFileStream } from '../perso/index.js';
import type { FileIdentity, PersoRenderer, RenderedFile } from './perso-file.js';

/**
 * The PersoRenderer of the configured bureau profile: layout and names from config.perso. No keys
 * and no OpenPGP here: the file thread renders with it and loads nothing else.
 */
export function makePersoRenderer(config: Config): PersoRenderer {
  const layout = loadLayout(config.perso.layout, config.perso.layoutsDir);
  return {
    fileName: (businessDate, sequence) => personalizationFileName(config.perso.fileNamePattern, config.issuer.code, businessDate, sequence),
    validate: (contract, businessDate) => prepareCard(layout, contract, businessDate),
    render: (file, contracts) => rendered(renderPersoFile(layout, context(file), contracts)),
    renderPrepared: (file, cards) => rendered(renderPreparedFile(layout, context(file), cards)),
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
