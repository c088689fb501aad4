import { createReadStream } from 'node:fs';
import { CsvError, parse as parseCsv } from 'csv-parse';
import type { Db, DbTransaction } from '../db/connection.js';
import { upsertContract } from '../db/contracts.js';
import type { Logger } from '../log.js';
import { maskPansInText } from '../security/mask.js';
import type { PanCipher } from '../security/pan.js';
import { FieldError, parseCardInput } from './fields.js';

export interface ImportProblem {
  line: number;
  field?: string;
  message: string;
}

export interface ImportResult {
  inserted: number;
  updated: number;
  skipped: ImportProblem[];
}

interface SourceRecord {
  line: number;
  value?: Record<string, unknown>;
  error?: string;
}

const CHUNK = 500;
/**
 * The longest JSON line taken (a card is under 2 KiB): a longer one is skipped unread, so that a file
 * without line breaks (a JSON array, a binary) cannot make the import hold it whole in memory.
 */
export const MAX_JSON_LINE_BYTES = 64 * 1024;

/**
 * Imports cards from JSON Lines (.jsonl/.ndjson/.json) or CSV (.csv, header row with field names).
 * Bad lines are reported with their line number and field, and skipped; good lines commit in chunks.
 */
export async function importContracts(db: Db, file: string, cipher: PanCipher, log: Logger): Promise<ImportResult> {
  const result: ImportResult = { inserted: 0, updated: 0, skipped: [] };
  let chunk: SourceRecord[] = [];
  const flush = async () => {
    const current = chunk;
    chunk = [];
    await db.transaction(async (trx) => {
      for (const record of current) await importOne(trx, record, cipher, result);
    });
  };
  for await (const record of readRecords(file)) {
    chunk.push(record);
    if (chunk.length >= CHUNK) await flush();
  }
  await flush();
  for (const problem of result.skipped) log.warn({ file, line: problem.line, field: problem.field }, `skipped line ${problem.line}: ${problem.message}`);
  return result;
}

async function importOne(trx: DbTransaction, record: SourceRecord, cipher: PanCipher, result: ImportResult): Promise<void> {
  // a problem's message may quote the input (an unknown status, a refused value): printed and
  // logged, so any PAN in it is masked here, whatever field it came from
  const skip = (problem: ImportProblem) => result.skipped.push({ ...problem, message: maskPansInText(problem.message) });
  if (record.error || !record.value) {
    skip({ line: record.line, message: record.error ?? 'empty record' });
    return;
  }
  try {
    const { card, status } = parseCardInput(record.value);
    const outcome = await upsertContract(trx, card, status, cipher);
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

async function* readJsonLines(file: string): AsyncGenerator<SourceRecord> {
  for await (const { line, text } of cappedLines(file, MAX_JSON_LINE_BYTES)) {
    if (text === undefined) {
      yield { line, error: `longer than ${MAX_JSON_LINE_BYTES} bytes: not a card (skipped unread)` };
      continue;
    }
    if (!text.trim()) continue;
    try {
      // a BOM (Windows editors write one) opens the file, not the first card's JSON
      const value = JSON.parse(line === 1 ? text.replace(/^\uFEFF/, '') : text);
      if (!value || typeof value !== 'object' || Array.isArray(value)) yield { line, error: 'not a JSON object' };
      else yield { line, value };
    } catch {
      yield { line, error: 'not valid JSON' };
    }
  }
}

/**
 * The lines of a file, numbered from 1, without their line break (LF or CRLF); a line over `maxBytes`
 * comes without its text, and is never held whole.
 */
async function* cappedLines(file: string, maxBytes: number): AsyncGenerator<{ line: number; text?: string }> {
  let parts: Buffer[] = [];
  let length = 0;
  let tooLong = false;
  let line = 0;
  const end = () => {
    line++;
    const text = tooLong ? undefined : Buffer.concat(parts, length).toString('utf8').replace(/\r$/, '');
    [parts, length, tooLong] = [[], 0, false];
    return { line, text };
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let lf = chunk.indexOf(0x0a); lf !== -1; lf = chunk.indexOf(0x0a, start)) {
      keep(chunk.subarray(start, lf));
      yield end();
      start = lf + 1;
    }
    keep(chunk.subarray(start));
  }
  if (length || tooLong) yield end();

  function keep(bytes: Buffer): void {
    if (tooLong || !bytes.length) return;
    if (length + bytes.length > maxBytes) [parts, length, tooLong] = [[], 0, true];
    else {
      parts.push(bytes);
      length += bytes.length;
    }
  }
}

interface CsvInfo {
  lines: number;
  /** set (relax_column_count) when the row's field count is not the header's */
  error?: { record?: unknown[] };
  columns: unknown[];
}

/**
 * A row with a stray quote is skipped and reported (skip_records_with_error), the rows after it are
 * still read; a row with more or fewer fields than the header (a comma out of place shifts every
 * field after it) is reported, never imported shifted or with defaults.
 */
async function* readCsv(file: string): AsyncGenerator<SourceRecord> {
  const parser = createReadStream(file).pipe(
    parseCsv({ columns: true, bom: true, skip_empty_lines: true, trim: true, info: true, relax_column_count: true, skip_records_with_error: true }),
  );
  const broken = new Map<number, SourceRecord>();
  let lastLine = 1;
  parser.on('skip', (err: CsvError & { lines: number }) => {
    // the parser reports some rows twice; a quote left open swallows the lines up to where it stops
    const line = err.lines;
    const swallowed = line > lastLine + 1 ? `; the row begins after line ${lastLine}: lines ${lastLine + 1}–${line} were not imported` : '';
    if (!broken.has(line)) broken.set(line, { line, error: `${err.message}${swallowed}` });
  });
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: CsvInfo }>) {
    yield* takeAll(broken);
    lastLine = info.lines;
    if (info.error) yield { line: info.lines, error: `${info.error.record?.length} fields where the header has ${info.columns.length} (a comma or quote out of place?)` };
    else yield { line: info.lines, value: record };
  }
  yield* takeAll(broken);
}

function* takeAll(records: Map<number, SourceRecord>): Generator<SourceRecord> {
  yield* records.values();
  records.clear();
}
