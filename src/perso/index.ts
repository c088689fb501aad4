/** The personalization file: layouts, embossing rules, rendering and strict reading. */
export { DEFAULT_LAYOUTS_DIR, layoutFromObject, lineEndingOf, loadLayout } from './layout.js';
export type { Charset, FieldSpec, FieldType, Layout, LineEnding, RecordRole, RecordSpec, Source, TransformName } from './layout-types.js';
export { prepareCard, type Prepared, type PreparedCard } from './prepare.js';
export { renderPersoFile, renderPreparedFile, type FileContext, type PersoFileStream, type PersoTotals } from './render.js';
export { explainRecord, parsePersoFile, parsePersoRecord, readPersoRecords, type ExplainedField, type ExplainedRecord, type ParsedRecord } from './parse.js';
export { fileNamePatternProblem, personalizationFileName } from './file-name.js';
export { embossName, embossText, toAscii, track1Name } from './emboss.js';
export { alpha2Of, isIsoAlpha3 } from './countries.js';
export { explainFile, type ExplainedLine, type ExplainSelection } from './explain.js';
