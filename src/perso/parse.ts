import { InputError } from '../errors.js';
import { luhnValid, maskPan, maskPansInPlace, maskPansInText } from '../security/mask.js';
import { recordSpecs, type FieldSpec, type Layout, type LineEnding, type RecordSpec } from './layout-types.js';
import { lineEndingProblem, linesOf } from './lines.js';
import { TRANSFORMS } from './transforms.js';

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export interface ParsedRecord {
  /** record role: header, detail or trailer */
  type: string;
  /** by field name, filler left out: N and date fields padded with zeros as written (leading zeros kept), others without their padding */
  fields: Record<string, string>;
}

/**
 * Reads one record (without its line ending) strictly: length, printable ASCII, known record type,
 * constants, N and date fields all digits, AN fields left-aligned, allowed values, filler blank.
 * Any deviation is an InputError naming the record (line number) and field.
 */
export function parsePersoRecord(layout: Layout, line: string, lineNumber: number): ParsedRecord {
  const fail = (message: string, field?: string): never => {
    throw new InputError(message, { record: lineNumber, ...(field ? { field } : {}) });
  };
  if (!PRINTABLE_ASCII.test(line)) fail(`character at position ${line.search(/[^\x20-\x7e]/) + 1} is not printable ASCII`);
  if (line.length !== layout.recordLength) fail(`record is ${line.length} characters long, the layout says ${layout.recordLength}`);
  const spec = specOf(layout, line) ?? fail(`unknown record type ${maskPansInText(JSON.stringify(typeCodeOf(layout, line)))}`);
  const fields: Record<string, string> = {};
  for (const field of spec.fields) {
    const raw = line.slice(field.offset, field.offset + field.length);
    const problem = fieldProblem(field, raw);
    if (problem) fail(problem, field.name);
    if (field.type !== 'filler') fields[field.name] = unpadded(field, raw);
  }
  return { type: spec.role, fields };
}

/**
 * Reads a clear file strictly, record by record (memory does not grow with the file): every record
 * as parsePersoRecord reads it, each ended by the line ending the file uses (one the layout allows,
 * `lineEnding` if given), the header first, the trailer last with the counts and hash total of the
 * detail records before it. The first deviation is an InputError naming the record (and field).
 */
export async function* readPersoRecords(layout: Layout, chunks: AsyncIterable<string> | Iterable<string>, lineEnding?: LineEnding): AsyncGenerator<ParsedRecord> {
  const allowed = lineEnding ? [lineEnding] : layout.lineEndings;
  const totals = new FileTotals(layout);
  let number = 0;
  let fileEnding: string | undefined;
  let last: string | undefined;
  for await (const line of linesOf(chunks)) {
    number++;
    const endingProblem = lineEndingProblem(line.ending, allowed);
    if (endingProblem) throw new InputError(endingProblem, { record: number });
    const record = parsePersoRecord(layout, line.text, number);
    fileEnding ??= line.ending;
    if (line.ending !== fileEnding) throw new InputError(`ends with ${line.ending}, the records before it with ${fileEnding}`, { record: number });
    const expected = expectedRole(layout, last);
    if (!expected.includes(record.type)) throw new InputError(`a ${record.type} record here; expected ${expected.join(' or ') || 'nothing after the trailer'}`, { record: number });
    totals.check(record, number);
    last = record.type;
    yield record;
  }
  if (layout.header && last === undefined) throw new InputError('the file is empty; expected a header', { record: 1 });
  if (layout.trailer && last !== 'trailer') throw new InputError('the file ends without its trailer', { record: number });
}

/** The whole file read by readPersoRecords, as a list (small files: tests, support). */
export async function parsePersoFile(layout: Layout, chunks: AsyncIterable<string> | Iterable<string>, lineEnding?: LineEnding): Promise<ParsedRecord[]> {
  const records: ParsedRecord[] = [];
  for await (const record of readPersoRecords(layout, chunks, lineEnding)) records.push(record);
  return records;
}

/** The record types that may come after one of type `last`. */
function expectedRole(layout: Layout, last: string | undefined): string[] {
  if (last === undefined && layout.header) return ['header'];
  if (last === 'trailer') return [];
  return layout.trailer ? ['detail', 'trailer'] : ['detail'];
}

/** Counts the detail records and adds their contract ids; checks the trailer's totals.* fields against them. */
class FileTotals {
  private details = 0;
  private records = 0;
  private hash = 0n;
  private readonly contractIdField: string | undefined;

  constructor(private readonly layout: Layout) {
    this.contractIdField = layout.detail.fields.find((f) => f.source === 'card.contractId')?.name;
  }

  check(record: ParsedRecord, number: number): void {
    this.records++;
    if (record.type === 'detail') {
      this.details++;
      if (this.contractIdField) this.hash += numberOf(record, this.contractIdField, number);
      return;
    }
    if (record.type !== 'trailer') return;
    for (const field of this.layout.trailer!.fields) {
      const expected = this.expected(field);
      if (expected === undefined) continue;
      const written = numberOf(record, field.name, number);
      if (written !== expected) throw new InputError(`says ${written}, the file has ${expected}`, { record: number, field: field.name });
    }
  }

  private expected(field: FieldSpec): bigint | undefined {
    switch (field.source) {
      case 'totals.detailCount': return BigInt(this.details);
      case 'totals.totalRecords': return BigInt(this.records);
      case 'totals.hashTotal': return this.contractIdField ? this.hash % 10n ** BigInt(field.length) : undefined;
      default: return undefined;
    }
  }
}

/** A field the totals add up or compare, as a number: digits (a layout may give it an AN field, which takes anything). */
function numberOf(record: ParsedRecord, field: string, number: number): bigint {
  const value = record.fields[field]!;
  if (!/^\d*$/.test(value)) throw new InputError(`${maskPansInText(JSON.stringify(value))} must be digits (the trailer's totals count it)`, { record: number, field });
  return BigInt(value);
}

/** The record type whose code is at the layout's type-code position, if any. */
export function specOf(layout: Layout, line: string): RecordSpec | undefined {
  const code = typeCodeOf(layout, line);
  return recordSpecs(layout).find((r) => r.code === code);
}

function typeCodeOf(layout: Layout, line: string): string {
  return line.slice(layout.typeCode.offset, layout.typeCode.offset + layout.typeCode.length);
}

/** What is wrong with one field's raw text, or undefined. Messages never quote a PAN field. */
function fieldProblem(field: FieldSpec, raw: string): string | undefined {
  const shown = field.source === 'card.pan' ? maskPan(raw) : maskPansInText(JSON.stringify(raw));
  const text = unpadded(field, raw);
  switch (field.type) {
    case 'constant':
      return raw === field.value ? undefined : `${shown} should be ${JSON.stringify(field.value)}`;
    case 'filler':
      return /^ *$/.test(raw) ? undefined : `filler must be spaces, found ${maskPansInText(JSON.stringify(raw.trim()))}`;
    case 'N':
    case 'date':
      if (field.padding === '0' && !/^\d+$/.test(raw)) return `${shown} must be ${field.length} digits`;
      if (field.padding === ' ' && !/^\d*$/.test(text)) return `${shown} must be digits, ${field.align}-aligned, padded with spaces`;
      if (field.required && text === '') return 'is required but blank';
      if (field.type === 'date' && !validDate(text, field.format!)) return `${shown} is not a date ${field.format}`;
      break;
    case 'AN':
      if (field.padding === ' ' && raw.trim() && (field.align === 'left' ? raw.startsWith(' ') : raw.endsWith(' '))) return `${shown} must be ${field.align}-aligned`;
      if (field.required && !text.trim()) return 'is required but blank';
      if (field.transform && text.trim() && !TRANSFORMS[field.transform].produces(text)) {
        return `${shown} is not ${TRANSFORMS[field.transform].output}`;
      }
      break;
  }
  const value = field.type === 'AN' || field.padding !== '0' ? text : raw.replace(/^0+(?=\d)/, '');
  if (field.values && value !== '' && !field.values.includes(value)) return `${shown} is not one of ${field.values.join(', ')}`;
  return undefined;
}

/**
 * A field's text without the padding the layout puts on its padded side (right of a left-aligned
 * value, left of a right-aligned one); N and date fields padded with zeros stay as written.
 */
function unpadded(field: FieldSpec, raw: string): string {
  if (field.padding === '0') return field.type === 'AN' ? raw.replace(/^0+/, '') : raw;
  return field.align === 'left' ? raw.trimEnd() : raw.trimStart();
}

function validDate(raw: string, format: 'YYYYMMDD' | 'YYMMDD'): boolean {
  const iso = format === 'YYYYMMDD' ? `${raw.slice(0, 4)}-${raw.slice(4, 6)}-${raw.slice(6)}` : `20${raw.slice(0, 2)}-${raw.slice(2, 4)}-${raw.slice(4)}`;
  const date = new Date(`${iso}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(iso);
}

export interface ExplainedField {
  name: string;
  position: number;
  length: number;
  type: string;
  /** the field's text as written, PAN masked */
  value: string;
}

export interface ExplainedRecord {
  lineNumber: number;
  type: string;
  fields: ExplainedField[];
  /** why a strict read refuses this record, if it does */
  problem?: string;
}

/**
 * A record field by field with positions, for support staff. Lenient: a record the strict parser
 * refuses is still shown (by the layout of its type code) with the problem. PANs are always masked:
 * the PAN field, and any PAN-looking number anywhere else. Control characters are shown as U+FFFD:
 * a damaged or forged file must not drive the terminal it is printed on (escape sequences).
 */
export function explainRecord(layout: Layout, line: string, lineNumber: number): ExplainedRecord {
  let problem: string | undefined;
  try {
    parsePersoRecord(layout, line, lineNumber);
  } catch (err) {
    problem = printable(maskPansInText((err as Error).message));
  }
  const spec = specOf(layout, line);
  const shown = spec?.role !== 'detail' || holdsItsPan(spec, line) ? line : maskPansInPlace(line);
  const fields = (spec?.fields ?? []).map((f) => {
    const raw = line.slice(f.offset, f.offset + f.length);
    const value = printable(f.source === 'card.pan' ? maskPan(raw) : maskPansInText(shown.slice(f.offset, f.offset + f.length)));
    return { name: f.name, position: f.position, length: f.length, type: f.type, value };
  });
  return { lineNumber, type: spec?.role ?? 'unknown', fields, ...(problem ? { problem } : {}) };
}

/**
 * Whether a detail record's PAN stands in the layout's PAN field. If not, the layout does not fit the file
 * and its field boundaries may cut the PAN in two, each piece too short to look like one: the record is
 * then masked whole before it is cut (adjacent number fields, such as contract and plastic ids, are
 * masked with it). A layout that fits keeps its other number fields readable.
 */
function holdsItsPan(spec: RecordSpec | undefined, line: string): boolean {
  const field = spec?.fields.find((f) => f.source === 'card.pan');
  if (!field) return false;
  const digits = line.slice(field.offset, field.offset + field.length).trim();
  return /^\d{12,19}$/.test(digits) && luhnValid(digits);
}

/** C0 and C1 control characters and DEL (ESC and CSI start terminal escape sequences) as U+FFFD, one for one. */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '\ufffd');
}
