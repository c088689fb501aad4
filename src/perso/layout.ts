import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT } from '../config/root.js';
import { parseYamlText, readTextFile } from '../config/text-file.js';
import { ConfigError } from '../errors.js';
import { fileNamePatternProblem } from './file-name.js';
import {
  CARD_SOURCES, COMPUTED_SOURCES, TRANSFORM_NAMES, type CardSource, type FieldSpec, type Layout, type LineEnding, type RecordRole,
  type RecordSpec, type Source,
} from './layout-types.js';
import { TRANSFORMS } from './transforms.js';

export const DEFAULT_LAYOUTS_DIR = join(PROJECT_ROOT, 'config', 'layouts');

const DATE_LENGTHS = { YYYYMMDD: 8, YYMMDD: 6 } as const;
const PRINTABLE = /^[\x20-\x7e]*$/;
const MAX_RECORD_LENGTH = 100_000;

const fieldSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a name of letters, digits and _'),
  // no field is longer than the longest record (a constant is padded to its length before the tiling is checked)
  position: z.number().int().min(1).max(MAX_RECORD_LENGTH),
  length: z.number().int().min(1).max(MAX_RECORD_LENGTH),
  type: z.enum(['N', 'AN', 'date', 'constant', 'filler']),
  source: z.string().optional(),
  value: z.union([z.string(), z.number()]).transform(String).optional(),
  format: z.enum(['YYYYMMDD', 'YYMMDD']).optional(),
  charset: z.enum(['name', 'address', 'code']).optional(),
  transform: z.enum(TRANSFORM_NAMES).optional(),
  required: z.boolean().default(false),
  values: z.array(z.union([z.string(), z.number()]).transform(String)).min(1).optional(),
  align: z.enum(['left', 'right']).optional(),
  padding: z.enum(['space', 'zero']).optional(),
  description: z.string().optional(),
});
type RawField = z.infer<typeof fieldSchema>;

const lineEnding = z.enum(['LF', 'CRLF']);

const recordSchema = z.strictObject({
  code: z.string().min(1),
  fields: z.array(fieldSchema).min(1),
});

const layoutSchema = z.strictObject({
  name: z.string().min(1),
  recordLength: z.number().int().min(1).max(MAX_RECORD_LENGTH),
  /** one line ending, or the list the bureau accepts (the first is the default) */
  lineEnding: z.union([lineEnding, z.array(lineEnding).min(1)]).default(['LF', 'CRLF']),
  fileNamePattern: z.string().optional(),
  mustBeEmpty: z.array(z.string()).default([]),
  typeCode: z.strictObject({ position: z.number().int().min(1), length: z.number().int().min(1) }),
  records: z.strictObject({ header: recordSchema.optional(), detail: recordSchema, trailer: recordSchema.optional() }),
});

/**
 * Loads and checks a layout (`<dir>/<name>.yaml`). Every problem — shape, overlapping or gapped
 * positions, a record length that does not match, an unknown source — is a ConfigError naming the
 * layout file and the field.
 */
export function loadLayout(name: string, dir: string = DEFAULT_LAYOUTS_DIR): Layout {
  if (!isLayoutName(name)) throw new ConfigError(`layout name ${JSON.stringify(name)} is not a plain file name`);
  const file = join(dir, `${name}.yaml`);
  if (!existsSync(file)) throw new ConfigError(`layout ${name}: file ${file} does not exist`);
  return loadLayoutFile(file);
}

/** A layout name (a file in a layouts folder) rather than a path. */
export function isLayoutName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) && !/\.ya?ml$/.test(name);
}

/** Loads and checks the layout in one YAML file (any path). */
export function loadLayoutFile(file: string): Layout {
  if (!existsSync(file)) throw new ConfigError(`layout file ${file} does not exist`);
  const what = `layout file ${file}`;
  return layoutFromObject(parseYamlText(what, readTextFile(file, what)), file);
}

/** Checks a parsed layout document; `file` is only used in error messages. */
export function layoutFromObject(raw: unknown, file: string): Layout {
  const parsed = layoutSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`layout file ${file}: ${describeShapeIssue(parsed.error, raw)}`);
  const doc = parsed.data;
  const fail = (where: string, message: string): never => {
    throw new ConfigError(`layout file ${file}: ${where}: ${message}`);
  };
  const typeCode = { offset: doc.typeCode.position - 1, length: doc.typeCode.length };
  const build = (role: RecordRole, rec: z.infer<typeof recordSchema>): RecordSpec => {
    const fields = rec.fields.map((f) => checkField(f, role, (where, msg) => fail(`records.${role}, ${where}`, msg)));
    checkPositions(fields, doc.recordLength, (where, msg) => fail(`records.${role}, ${where}`, msg));
    checkTypeCode(fields, rec.code, typeCode, (msg) => fail(`records.${role}`, msg));
    return { role, code: rec.code, fields };
  };
  const header = doc.records.header ? build('header', doc.records.header) : undefined;
  const detail = build('detail', doc.records.detail);
  const trailer = doc.records.trailer ? build('trailer', doc.records.trailer) : undefined;
  const lineEndings: LineEnding[] = typeof doc.lineEnding === 'string' ? [doc.lineEnding] : doc.lineEnding;
  if (new Set(lineEndings).size !== lineEndings.length) fail('lineEnding', `${lineEndings.join(', ')} names one twice`);
  const patternProblem = doc.fileNamePattern === undefined ? undefined : fileNamePatternProblem(doc.fileNamePattern);
  if (patternProblem) fail('fileNamePattern', patternProblem);
  const mustBeEmpty = doc.mustBeEmpty.map((source, i) => {
    const name = source.startsWith('card.') ? source.slice(5) : '';
    if (!(CARD_SOURCES as readonly string[]).includes(name)) fail(`mustBeEmpty[${i}]`, `${JSON.stringify(source)} is not a card.<field> source`);
    if (detail.fields.some((f) => f.source === source)) fail(`mustBeEmpty[${i}]`, `${source} has a field in the detail record`);
    return name as CardSource;
  });
  const layout: Layout = {
    name: doc.name, file, recordLength: doc.recordLength, lineEndings, ...(doc.fileNamePattern ? { fileNamePattern: doc.fileNamePattern } : {}),
    mustBeEmpty, typeCode, detail, ...(header ? { header } : {}), ...(trailer ? { trailer } : {}),
  };
  const codes = [layout.header, layout.detail, layout.trailer].filter(Boolean).map((r) => r!.code);
  if (new Set(codes).size !== codes.length) fail('records', `record type codes must differ (${codes.join(', ')})`);
  return layout;
}

function checkField(f: RawField, role: RecordRole, fail: (where: string, message: string) => never): FieldSpec {
  const where = `field ${f.name}`;
  const source = f.source === undefined ? undefined : checkSource(f.source, role, (msg) => fail(where, msg));
  const needsSource = f.type === 'N' || f.type === 'AN' || f.type === 'date';
  if (needsSource && !source) fail(where, `type ${f.type} needs a source`);
  if (!needsSource && source) fail(where, `type ${f.type} takes no source`);
  if (f.type === 'constant' && f.value === undefined) fail(where, 'a constant needs a value');
  if (f.type !== 'constant' && f.value !== undefined) fail(where, 'only a constant takes a value');
  if (f.value !== undefined && (f.value.length > f.length || !PRINTABLE.test(f.value))) {
    fail(where, `constant ${JSON.stringify(f.value)} must be printable ASCII of at most ${f.length} characters`);
  }
  if (f.type === 'date') {
    if (!f.format) fail(where, 'a date needs a format (YYYYMMDD or YYMMDD)');
    if (DATE_LENGTHS[f.format!] !== f.length) fail(where, `format ${f.format} needs length ${DATE_LENGTHS[f.format!]}, not ${f.length}`);
    if (source !== 'file.businessDate') fail(where, 'a date field takes its value from file.businessDate');
  } else if (f.format) fail(where, 'only a date takes a format');
  // names are letters: in an N or date field they would make a record the bureau (and our reader) refuses
  if (source?.startsWith('emboss.') && f.type !== 'AN') fail(where, `${source} is text: its field must be AN, not ${f.type}`);
  if (f.charset && !(f.type === 'AN' && source?.startsWith('card.'))) fail(where, 'a charset applies to AN fields from card.* sources only');
  if (f.transform) {
    const transform = TRANSFORMS[f.transform];
    if (f.type !== 'AN' || !source || !transform.sources.includes(source)) {
      fail(where, `transform ${f.transform} applies to AN fields from ${transform.sources.join(', ')} only`);
    }
    if (f.values) fail(where, 'a transformed field takes no values list (the transform decides what it writes)');
  }
  if (f.type === 'N' && f.values?.some((v) => !/^\d+$/.test(v))) fail(where, 'values of an N field must be digits');
  if (f.values?.some((v) => v.length > f.length || !PRINTABLE.test(v))) fail(where, `every value must be printable ASCII of at most ${f.length} characters`);
  const right = f.type === 'N' || f.type === 'date';
  const align = f.align ?? (right ? 'right' : 'left');
  const padding = f.padding ? (f.padding === 'zero' ? '0' : ' ') : right ? '0' : ' ';
  // zeros after a value change it (PSN 2 in three digits would read 200): zeros pad on the left only
  if (align === 'left' && padding === '0') fail(where, `a left-aligned ${f.type} field cannot be zero-padded (it would be followed by zeros): give padding: space or align: right`);
  const charset = f.type === 'AN' && source?.startsWith('card.') && source !== 'card.pan' ? f.charset ?? 'name' : undefined;
  return {
    name: f.name, position: f.position, length: f.length, offset: f.position - 1, type: f.type,
    ...(source ? { source } : {}),
    ...(f.value !== undefined ? { value: pad(f.value, f.length, align, padding) } : {}),
    ...(f.format ? { format: f.format } : {}),
    ...(charset ? { charset } : {}),
    ...(f.transform ? { transform: f.transform } : {}),
    ...(f.values ? { values: f.values } : {}),
    required: f.required, align, padding,
  };
}

function checkSource(source: string, role: RecordRole, fail: (message: string) => never): Source {
  if (source.startsWith('card.')) {
    if (!(CARD_SOURCES as readonly string[]).includes(source.slice(5))) fail(`unknown source ${source} (card fields: ${CARD_SOURCES.join(', ')})`);
    if (role !== 'detail') fail(`source ${source} belongs in a detail record, not the ${role}`);
    return source as Source;
  }
  const roles = (COMPUTED_SOURCES as Record<string, readonly RecordRole[]>)[source];
  if (!roles) fail(`unknown source ${source} (known: card.<field>, ${Object.keys(COMPUTED_SOURCES).join(', ')})`);
  if (!roles!.includes(role)) fail(`source ${source} cannot appear in the ${role} (only in ${roles!.join(', ')})`);
  return source as Source;
}

/** Fields must tile the record: start at 1, no overlap, no gap, end exactly at the record length. */
function checkPositions(fields: FieldSpec[], recordLength: number, fail: (where: string, message: string) => never): void {
  const names = new Set<string>();
  for (const f of fields) {
    if (f.type !== 'filler' && names.has(f.name)) fail(`field ${f.name}`, 'appears twice');
    names.add(f.name);
  }
  const sorted = [...fields].sort((a, b) => a.position - b.position);
  let expected = 1;
  for (const f of sorted) {
    if (f.position < expected) fail(`field ${f.name}`, `position ${f.position} overlaps the field before it (which ends at ${expected - 1})`);
    if (f.position > expected) fail(`field ${f.name}`, `gap: positions ${expected}–${f.position - 1} belong to no field`);
    expected = f.position + f.length;
  }
  const last = sorted[sorted.length - 1]!;
  if (expected - 1 !== recordLength) fail(`field ${last.name}`, `the fields end at ${expected - 1} but recordLength is ${recordLength}`);
  fields.splice(0, fields.length, ...sorted);
}

function checkTypeCode(fields: FieldSpec[], code: string, typeCode: { offset: number; length: number }, fail: (message: string) => never): void {
  if (code.length !== typeCode.length) fail(`code ${JSON.stringify(code)} must have the typeCode length ${typeCode.length}`);
  const at = fields.find((f) => f.offset === typeCode.offset && f.length === typeCode.length);
  if (!at || at.type !== 'constant' || at.value !== code) {
    fail(`needs a constant field with value ${JSON.stringify(code)} at position ${typeCode.offset + 1}, length ${typeCode.length} (typeCode)`);
  }
}

/**
 * Why a file of `maxCards` detail records would not fit this layout's counters (the record sequence,
 * the trailer's detail and total record counts), or undefined. Checked at load: found while writing,
 * it would fail the whole batch at its last records, and again at every resume.
 */
export function cardsPerFileProblem(layout: Layout, maxCards: number): string | undefined {
  const records = maxCards + (layout.header ? 1 : 0) + (layout.trailer ? 1 : 0);
  const counters = [
    ...layout.detail.fields.filter((f) => f.source === 'record.sequence').map((f) => ({ f, role: 'detail', most: maxCards })),
    ...(layout.trailer?.fields ?? []).flatMap((f) => {
      if (f.source === 'totals.detailCount') return [{ f, role: 'trailer', most: maxCards }];
      return f.source === 'totals.totalRecords' ? [{ f, role: 'trailer', most: records }] : [];
    }),
  ];
  const short = counters.find(({ f, most }) => String(most).length > f.length);
  if (!short) return undefined;
  return `the ${short.role} field ${short.f.name} holds ${short.f.length} digits, too few for ${short.most} (${layout.file})`;
}

/** The line ending of a file in this layout: the one asked for (one the layout allows), else the layout's first. */
export function lineEndingOf(layout: Layout, wanted?: LineEnding): LineEnding {
  if (wanted === undefined) return layout.lineEndings[0]!;
  if (!layout.lineEndings.includes(wanted)) {
    throw new ConfigError(`line ending ${wanted} is not one layout ${layout.name} allows (${layout.lineEndings.join(', ')}; ${layout.file})`);
  }
  return wanted;
}

export function pad(value: string, length: number, align: 'left' | 'right', padding: string): string {
  return align === 'left' ? value.padEnd(length, padding) : value.padStart(length, padding);
}

/** A zod issue as "records.detail, field pan: message" (the field by name when it has one). */
function describeShapeIssue(error: z.ZodError, raw: unknown): string {
  const issue = error.issues[0]!;
  const path = issue.path;
  const fieldsAt = path.indexOf('fields');
  let where = path.join('.') || '(top level)';
  if (fieldsAt >= 0 && typeof path[fieldsAt + 1] === 'number') {
    const field = (raw as any)?.records?.[path[fieldsAt - 1] as string]?.fields?.[path[fieldsAt + 1] as number];
    const label = typeof field?.name === 'string' ? `field ${field.name}` : `field #${(path[fieldsAt + 1] as number) + 1}`;
    const rest = path.slice(fieldsAt + 2).join('.');
    where = `${path.slice(0, fieldsAt).join('.')}, ${label}${rest ? ` (${rest})` : ''}`;
  }
  return `${where}: ${issue.message}${error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : ''}`;
}
