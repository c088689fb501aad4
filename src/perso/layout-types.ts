/** The shape of a loaded, checked layout: what the renderer and parser work from. */

export type FieldType = 'N' | 'AN' | 'date' | 'constant' | 'filler';
export type RecordRole = 'header' | 'detail' | 'trailer';
/** How card text is reduced to the bureau's character set (see emboss.ts). */
export type Charset = 'name' | 'address' | 'code';
export type DateFormat = 'YYYYMMDD' | 'YYMMDD';
export type LineEnding = 'LF' | 'CRLF';
/** Named conversions of a card value into the bureau's code for it (see transforms.ts). */
export const TRANSFORM_NAMES = ['country-alpha2'] as const;
export type TransformName = (typeof TRANSFORM_NAMES)[number];

/** Contract fields a detail field can take its value from (`card.<name>`). */
export const CARD_SOURCES = [
  'contractId', 'plasticId', 'pan', 'psn', 'expiry', 'requestType', 'title', 'firstName', 'lastName', 'companyName',
  'addressLine1', 'addressLine2', 'addressLine3', 'postalCode', 'city', 'country', 'productCode', 'chipProfile',
  'deliveryMethod', 'pinMailer',
] as const;
export type CardSource = (typeof CARD_SOURCES)[number];

/** Values computed per file or per record, with the record roles they may appear in. */
export const COMPUTED_SOURCES = {
  'emboss.name': ['detail'],
  'emboss.track1': ['detail'],
  'record.sequence': ['detail'],
  'file.issuerCode': ['header', 'detail', 'trailer'],
  'file.bureauCode': ['header', 'detail', 'trailer'],
  'file.businessDate': ['header', 'detail', 'trailer'],
  'file.creationTime': ['header', 'detail', 'trailer'],
  'file.sequence': ['header', 'detail', 'trailer'],
  'file.environment': ['header', 'detail', 'trailer'],
  'totals.detailCount': ['trailer'],
  'totals.totalRecords': ['trailer'],
  'totals.hashTotal': ['trailer'],
} as const satisfies Record<string, readonly RecordRole[]>;
export type ComputedSource = keyof typeof COMPUTED_SOURCES;
export type Source = `card.${CardSource}` | ComputedSource;

export interface FieldSpec {
  name: string;
  /** 1-based, as in the interface document */
  position: number;
  length: number;
  /** 0-based: position - 1 */
  offset: number;
  type: FieldType;
  /** absent for constant and filler fields */
  source?: Source;
  /** constant fields: the value, already padded to the length */
  value?: string;
  format?: DateFormat;
  charset?: Charset;
  /** a named conversion applied after the charset (card fields only) */
  transform?: TransformName;
  required: boolean;
  /** the only values allowed, if given */
  values?: readonly string[];
  align: 'left' | 'right';
  padding: ' ' | '0';
}

export interface RecordSpec {
  role: RecordRole;
  /** record type code, found at the layout's typeCode position */
  code: string;
  fields: FieldSpec[];
}

export interface Layout {
  name: string;
  /** the YAML file it was loaded from (named in errors) */
  file: string;
  recordLength: number;
  /** the line endings the bureau accepts after each record; the first is the one written unless the config picks another */
  lineEndings: readonly LineEnding[];
  /** the profile's file name ({issuer}, {date}, {seq}), if it has one; the config may give another */
  fileNamePattern?: string;
  /** card fields the profile has no room for: a card with a value there is Invalid rather than losing it */
  mustBeEmpty: readonly CardSource[];
  typeCode: { offset: number; length: number };
  header?: RecordSpec;
  detail: RecordSpec;
  trailer?: RecordSpec;
}

/** The record types of a layout in file order (header, detail, trailer), leaving out absent ones. */
export function recordSpecs(layout: Layout): RecordSpec[] {
  return [layout.header, layout.detail, layout.trailer].filter((r): r is RecordSpec => r !== undefined);
}
