import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
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
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
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
