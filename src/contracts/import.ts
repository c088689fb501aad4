import { createReadStream } from 'node:fs';
import { CsvError, parse as parseCsv } from 'csv-parse/sync';
import type { Db, DbTransaction } from '../db/connection.js';
import { nowIso } from '../db/connection.js';
import { upsertContract } from '../db/contracts.js';
import { InputError } from '../errors.js';
import type { Logger } from '../log.js';
import { maskPansInText } from '../security/mask.js';
import type { PanCipher } from '../security/pan.js';
import { FieldError, REQUIRED_FIELDS, checkFieldNames, parseCardInput } from './fields.js';

export interface ImportProblem {
  line: number;
  field?: string;
  message: string;
}

export interface ImportResult {
  inserted: number;
  updated: number;
  /** the first MAX_LISTED_PROBLEMS skipped lines: a file of millions of bad lines must not fill the memory */
  skipped: ImportProblem[];
  /** every skipped line, listed or not */
  skippedCount: number;
}

export interface ImportOptions {
  /** told of every skipped line as it is found, listed or not (the CLI prints each) */
  onSkip?: (problem: ImportProblem) => void;
  /** the import's clock (expiry bounds, the cards' times) */
  now?: Date;
}

interface SourceRecord {
  line: number;
  value?: Record<string, unknown>;
  error?: string;
}

const CHUNK = 500;
/** How many skipped lines a result lists and the log names one by one; the rest are counted. */
export const MAX_LISTED_PROBLEMS = 1000;
/**
 * The longest JSON line or CSV row taken (a card is under 2 KiB): a longer one is skipped unread, so
 * that a file without line breaks (a JSON array, a binary, a 1 GB row) cannot make the import hold it
 * whole in memory.
 */
export const MAX_JSON_LINE_BYTES = 64 * 1024;
export const MAX_CSV_ROW_BYTES = 64 * 1024;

/**
 * Imports cards from JSON Lines (.jsonl/.ndjson/.json) or CSV (.csv, header row with field names).
 * Bad lines are reported with their line number and field, and skipped; good lines commit in chunks.
 * A file that cannot be read as cards at all (UTF-16, a CSV header with an unknown column) is refused
 * whole with an InputError before any card is written.
 */
export async function importContracts(db: Db, file: string, cipher: PanCipher, log: Logger, options: ImportOptions = {}): Promise<ImportResult> {
  const result: ImportResult = { inserted: 0, updated: 0, skipped: [], skippedCount: 0 };
  // one time for every card of the import: a row already bearing it was written by an earlier line
  const stamp = nowIso(() => options.now ?? new Date());
  const name = maskPansInText(file);
  const skip = (problem: ImportProblem) => {
    // a problem's message may quote the input (an unknown status, a refused value): printed and
    // logged, so any PAN in it is masked here, whatever field it came from
    const masked = { ...problem, message: maskPansInText(problem.message), ...(problem.field ? { field: maskPansInText(problem.field) } : {}) };
    result.skippedCount++;
    options.onSkip?.(masked);
    if (result.skippedCount > MAX_LISTED_PROBLEMS) return;
    result.skipped.push(masked);
    log.warn({ file: name, line: masked.line, field: masked.field }, `skipped line ${masked.line}: ${masked.message}`);
  };
  let chunk: SourceRecord[] = [];
  const flush = async () => {
    const current = chunk;
    chunk = [];
    const context = { cipher, stamp, now: options.now ?? new Date(), skip, result };
    // a chunk of bad lines only (a file of garbage) costs no transaction
    if (!current.some((record) => record.value)) current.forEach((record) => skipBroken(record, skip));
    else await db.transaction(async (trx) => {
      for (const record of current) await importOne(trx, record, context);
    });
  };
  for await (const record of readRecords(file)) {
    chunk.push(record);
    if (chunk.length >= CHUNK) await flush();
  }
  await flush();
  const unlisted = result.skippedCount - result.skipped.length;
  if (unlisted > 0) log.warn({ file: name, skipped: result.skippedCount }, `${unlisted} more skipped lines, not listed one by one`);
  return result;
}

interface ImportContext {
  cipher: PanCipher;
  stamp: string;
  now: Date;
  skip: (problem: ImportProblem) => void;
  result: ImportResult;
}

function skipBroken(record: SourceRecord, skip: ImportContext['skip']): void {
  skip({ line: record.line, message: record.error ?? 'empty record' });
}

async function importOne(trx: DbTransaction, record: SourceRecord, { cipher, stamp, now, skip, result }: ImportContext): Promise<void> {
  if (record.error || !record.value) {
    skipBroken(record, skip);
    return;
  }
  try {
    const { card, status } = parseCardInput(record.value, now);
    const outcome = await upsertContract(trx, card, status, cipher, stamp, { importLine: true });
    if (outcome.kind === 'refused') skip({ line: record.line, message: outcome.reason });
    else result[outcome.kind]++;
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    skip({ line: record.line, field: err.field, message: err.message });
  }
}

async function* readRecords(file: string): AsyncGenerator<SourceRecord> {
  if (/\.csv$/i.test(file)) yield* readCsv(file);
  else yield* readJsonLines(file);
}

/**
 * The file's bytes, a UTF-8 BOM (what Windows editors write first) dropped. UTF-16, which a
 * spreadsheet's "Unicode text" export writes, is refused whole: read as UTF-8 every line would be
 * garbage, each skipped with a message that does not say why.
 */
async function* fileBytes(file: string): AsyncGenerator<Buffer> {
  let first = true;
  for await (const bytes of createReadStream(file) as AsyncIterable<Buffer>) {
    let chunk = bytes;
    if (first) {
      first = false;
      if ((chunk[0] === 0xff && chunk[1] === 0xfe) || (chunk[0] === 0xfe && chunk[1] === 0xff)) {
        throw new InputError('is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8; nothing was imported', { file: maskPansInText(file) });
      }
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    yield chunk;
  }
}

async function* readJsonLines(file: string): AsyncGenerator<SourceRecord> {
  let first = true;
  for await (const { line, text } of cappedRecords(file, MAX_JSON_LINE_BYTES, 'lines')) {
    if (text === undefined) {
      yield { line, error: `longer than ${MAX_JSON_LINE_BYTES} bytes: not a card (skipped unread)` };
      continue;
    }
    if (!text.trim()) continue;
    // a JSON document (an array, pretty-printed over many lines) is not JSON Lines: every line of it
    // would be skipped as 'not valid JSON', the cards in it never imported
    if (first && text.trimStart().startsWith('[')) {
      throw new InputError(`line ${line}: a JSON array, not JSON Lines (one card object per line); nothing was imported`, { file: maskPansInText(file) });
    }
    first = false;
    try {
      const value = JSON.parse(text);
      if (!value || typeof value !== 'object' || Array.isArray(value)) yield { line, error: 'not a JSON object' };
      else yield { line, value };
    } catch {
      yield { line, error: 'not valid JSON' };
    }
  }
}

interface RawRecord {
  /** the line it starts on, from 1 */
  line: number;
  /** the line it ends on (a CSV field in quotes may hold line breaks) */
  lastLine: number;
  /** undefined when it was over the limit: never held whole */
  text?: string;
}

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

/**
 * The records of a file without their line break (LF, CRLF or CR), numbered by the line each starts
 * on; a record over `maxBytes` comes without its text and is never held whole. In 'lines' mode every
 * line break ends a record (JSON Lines); in 'csv' mode a line break inside a quoted field does not,
 * as csv-parse reads it: a quote opens a field only at its start (spaces aside), and within a quoted
 * field each quote toggles (`""` is a quote in the text).
 */
async function* cappedRecords(file: string, maxBytes: number, mode: 'lines' | 'csv'): AsyncGenerator<RawRecord> {
  const csv = mode === 'csv';
  let parts: Buffer[] = [];
  let length = 0;
  let tooLong = false;
  let line = 1;
  let startLine = 1;
  let afterCr = false; // the LF of a CRLF is not a second line break
  // CSV: whether a CR alone breaks lines, as the file's first line break tells (csv-parse's rule): in a
  // file of LF or CRLF lines, a stray CR in a field is text, not a line that would cut the row in two
  let crBreaks: boolean | undefined = csv ? undefined : false;
  let inQuotes = false;
  let quotedField = false;
  let fieldStart = true;
  const keep = (bytes: Buffer) => {
    if (tooLong || !bytes.length) return;
    if (length + bytes.length > maxBytes) [parts, length, tooLong] = [[], 0, true];
    else {
      parts.push(bytes);
      length += bytes.length;
    }
  };
  // a quote opens a field at its start only; within a quoted field each quote toggles
  const readCsvByte = (byte: number) => {
    if (byte === QUOTE) {
      if (inQuotes) inQuotes = false;
      else if (fieldStart || quotedField) [inQuotes, quotedField] = [true, true];
      fieldStart = false;
    } else if (byte === COMMA && !inQuotes) [fieldStart, quotedField] = [true, false];
    else if (byte !== 0x20 && byte !== 0x09 && !inQuotes) fieldStart = false;
  };
  const end = (): RawRecord => {
    // JSON Lines: the CR of a CRLF is left on the line (only LF ends one there)
    const text = tooLong ? undefined : Buffer.concat(parts, length).toString('utf8').replace(/\r$/, '');
    const record = { line: startLine, lastLine: line, text };
    [parts, length, tooLong, quotedField, fieldStart] = [[], 0, false, false, true];
    return record;
  };
  for await (const chunk of fileBytes(file)) {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      const lfOfCrlf: boolean = afterCr && byte === LF;
      if (afterCr && crBreaks === undefined) crBreaks = !lfOfCrlf;
      if (byte === LF && crBreaks === undefined) crBreaks = false;
      afterCr = byte === CR && crBreaks !== false;
      if (byte !== LF && !afterCr) {
        if (csv) readCsvByte(byte);
        continue;
      }
      if (lfOfCrlf) {
        if (!inQuotes) start = i + 1; // the CR ended the record and counted the line
        continue;
      }
      if (inQuotes) {
        line++;
        continue;
      }
      keep(chunk.subarray(start, i));
      yield end();
      start = i + 1;
      startLine = ++line;
    }
    keep(chunk.subarray(start));
  }
  if (length || tooLong) yield end();
}

/**
 * CSV: a header row naming the fields, then one card per row. Each row is read on its own, at most
 * MAX_CSV_ROW_BYTES of it held, so an oversized or broken row is skipped with its line and the rows
 * after it are still read. A row with more or fewer fields than the header (a comma out of place
 * shifts every field after it) is reported, never imported shifted or with defaults.
 */
async function* readCsv(file: string): AsyncGenerator<SourceRecord> {
  let columns: string[] | undefined;
  for await (const raw of cappedRecords(file, MAX_CSV_ROW_BYTES, 'csv')) {
    if (raw.text !== undefined && !raw.text.trim()) continue;
    if (!columns) {
      columns = csvHeader(file, raw);
      continue;
    }
    if (raw.text === undefined) {
      yield { line: raw.line, error: `${linesOf(raw)}longer than ${MAX_CSV_ROW_BYTES} bytes: not a card (skipped unread)` };
      continue;
    }
    const row = csvFields(raw, columns);
    if (typeof row === 'string') yield { line: raw.line, error: row };
    else if (row.length !== columns.length) {
      yield { line: raw.line, error: `${linesOf(raw)}${row.length} fields where the header has ${columns.length} (a comma or quote out of place?)` };
    } else yield { line: raw.line, value: Object.fromEntries(columns.map((name, i) => [name, row[i]])) };
  }
}

/** "lines 3–5: " for a row over several lines (quoted line breaks, a quote left open), else "". */
function linesOf(raw: RawRecord): string {
  return raw.lastLine > raw.line ? `lines ${raw.line}–${raw.lastLine}: ` : '';
}

/**
 * The column names. A header the import cannot trust refuses the file whole, before any card: a
 * misspelt column (`embosedName`) would drop its data from every row, silently; a missing required
 * one would skip every row, each for the same reason; a column named twice would keep one of two values.
 */
function csvHeader(file: string, raw: RawRecord): string[] {
  const refuse = (message: string) => new InputError(`line ${raw.line} (the header row): ${message}; nothing was imported`, { file: maskPansInText(file) });
  if (raw.text === undefined) throw refuse(`longer than ${MAX_CSV_ROW_BYTES} bytes`);
  const names = csvFields(raw, []);
  if (typeof names === 'string') throw refuse(names);
  // a spreadsheet set to another locale separates by ';' (or a tab): one column, named after them all
  const separator = names.length === 1 ? /[;\t|]/.exec(names[0]!)?.[0] : undefined;
  if (separator) throw refuse(`one column only: the fields must be separated by commas, not by ${JSON.stringify(separator)}`);
  try {
    checkFieldNames(names);
  } catch (err) {
    if (err instanceof FieldError) throw refuse(`column ${err.message.replace(/^field /, '')}`);
    throw err;
  }
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice) throw refuse(`column ${twice} is named twice`);
  const missing = REQUIRED_FIELDS.filter((name) => !names.includes(name));
  if (missing.length) throw refuse(`no column ${missing.join(', ')} (required)`);
  return names;
}

/**
 * The fields of one CSV row, or why it cannot be read. csv-parse's own messages quote the field's
 * text (a PAN, a terminal escape) and count lines within the row: ours name the file's line and the column.
 */
function csvFields(raw: RawRecord, columns: readonly string[]): string[] | string {
  try {
    // the row holds no line break outside quotes (cappedRecords cut there): a CR left in it is text,
    // which csv-parse would otherwise take for the record delimiter
    const rows = parseCsv(raw.text!, { trim: true, relax_column_count: true, record_delimiter: '\n' });
    if (rows.length === 1) return rows[0]!;
    return `${linesOf(raw)}a line break out of place (read as ${rows.length} rows)`;
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    const at = (err as CsvError & { index?: number }).index;
    const field = at === undefined ? '' : ` in field ${at + 1}${columns[at] ? ` (${columns[at]})` : ''}`;
    if (err.code === 'CSV_QUOTE_NOT_CLOSED') return `a quote is opened${field} and never closed: ${raw.lastLine > raw.line ? `lines ${raw.line}–${raw.lastLine} were not imported` : 'the row was not imported'}`;
    if (err.code === 'INVALID_OPENING_QUOTE') return `${linesOf(raw)}a quote inside a field that does not start with one${field} (write the field in quotes, a quote in it as "")`;
    if (err.code === 'CSV_INVALID_CLOSING_QUOTE') return `${linesOf(raw)}text after a closing quote${field}`;
    return `${linesOf(raw)}not a CSV row (${err.code})`;
  }
}
