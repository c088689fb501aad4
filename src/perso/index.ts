/** The personalization file: layouts, embossing rules, rendering and strict reading. */
export { DEFAULT_LAYOUTS_DIR, layoutFromObject, loadLayout } from './layout.js';
export type { Charset, FieldSpec, FieldType, Layout, RecordRole, RecordSpec, Source } from './layout-types.js';
export { prepareCard, type Prepared, type PreparedCard } from './prepare.js';
export { renderPersoFile, renderPreparedFile, type FileContext, type PersoFileStream, type PersoTotals } from './render.js';
export { explainRecord, parsePersoRecord, type ExplainedField, type ExplainedRecord, type ParsedRecord } from './parse.js';
export { personalizationFileName } from './file-name.js';
export { embossName, embossText, toAscii, track1Name } from './emboss.js';
export { isIsoAlpha3 } from './countries.js';
export { explainFile, type ExplainedLine, type ExplainSelection } from './explain.js';
