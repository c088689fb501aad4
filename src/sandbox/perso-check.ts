import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { messageOf } from '../errors.js';
import type { Layout, RecordSpec, Source } from '../perso/layout-types.js';
import { parsePersoRecord, specOf } from '../perso/parse.js';
import { maskPansInText } from '../security/mask.js';

/** One detail record as the bureau reads it: what a report line refers to. */
export interface ReceivedRecord {
  recordSequence: number;
  /** as written in the file (leading zeros kept) */
  contractId: string;
  plasticId: string;
  productCode: string;
  deliveryMethod: string;
}

/** What the file must say about itself, from its name and the agreement. */
export interface FileExpectations {
  issuer: string;
  bureau: string;
  environment: string;
  /** YYYYMMDD and 6 digits, from the file name */
  businessDate: string;
  fileSequence: string;
  lineEnding: 'LF' | 'CRLF';
}

/**
 * The result of the strict check, and how many detail records `readDetailRecords` will yield: in a
 * broken file, those that can still be read by position, so that the report rejects each of them.
 * Nothing per record is kept: the report is written in further passes over the file.
 */
export type CheckedFile = { ok: true; records: number } | { ok: false; reason: string; records: number };

const HASH_MODULUS = 10n ** 15n;

/** Reads a clear personalization file and checks it strictly against the layout and the agreement. */
export async function checkPersoFile(clearFile: string, layout: Layout, expect: FileExpectations): Promise<CheckedFile> {
  const check = new PersoFileCheck(layout, expect);
  for await (const { text, ending } of splitRecords(clearFile)) check.add(text, ending);
  return check.finish();
}

type LineEnding = 'LF' | 'CRLF' | 'none';

/**
 * The detail records of a clear file, read by position (leniently: a record the strict check refused
 * is still yielded when its ids are digits). Synchronous, so that a report writer can pull records
 * while it writes; one 64 KiB buffer at a time.
 */
export function* readDetailRecords(file: string, layout: Layout): Generator<ReceivedRecord> {
  const fd = openSync(file, 'r');
  const buffer = Buffer.alloc(64 * 1024);
  let rest = '';
  let count = 0;
  const recordOf = (line: string) => {
    const record = detailAt(layout, line.endsWith('\r') ? line.slice(0, -1) : line, count + 1);
    if (record) count++;
    return record;
  };
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0;) {
      const parts = (rest + buffer.toString('latin1', 0, n)).split('\n');
      rest = parts.pop()!;
      for (const part of parts) {
        const record = recordOf(part);
        if (record) yield record;
      }
    }
    const last = rest === '' ? undefined : recordOf(rest);
    if (last) yield last;
  } finally {
    closeSync(fd);
  }
}

/** The detail record in a line, by field positions, if the line is one and its ids are digits. */
function detailAt(layout: Layout, line: string, position: number): ReceivedRecord | undefined {
  const spec = specOf(layout, line);
  if (spec?.role !== 'detail') return undefined;
  const get = (source: Source) => {
    const f = spec.fields.find((x) => x.source === source);
    return f ? line.slice(f.offset, f.offset + f.length).trimEnd() : '';
  };
  const record = {
    recordSequence: /^\d+$/.test(get('record.sequence')) ? Number(get('record.sequence')) : position,
    contractId: get('card.contractId'), plasticId: get('card.plasticId'),
    productCode: get('card.productCode'), deliveryMethod: get('card.deliveryMethod'),
  };
  return /^\d+$/.test(record.contractId) && /^\d+$/.test(record.plasticId) ? record : undefined;
}

/** Records of a file without their line ending, and which ending each had. */
async function* splitRecords(file: string): AsyncGenerator<{ text: string; ending: LineEnding }> {
  let rest = '';
  for await (const chunk of createReadStream(file, { encoding: 'latin1' })) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const part of parts) {
      yield part.endsWith('\r') ? { text: part.slice(0, -1), ending: 'CRLF' } : { text: part, ending: 'LF' };
    }
  }
  if (rest !== '') yield { text: rest, ending: 'none' };
}

class PersoFileCheck {
  /** detail records readDetailRecords yields */
  private readable = 0;
  /** detail records that passed the strict parser */
  private details = 0;
  private problem: string | undefined;
  private lineNumber = 0;
  private header: Record<string, string> | undefined;
  private trailer: Record<string, string> | undefined;
  private hashTotal = 0n;
  private readonly seen = new Set<string>();

  constructor(private readonly layout: Layout, private readonly expect: FileExpectations) {}

  add(line: string, ending: LineEnding): void {
    this.lineNumber++;
    if (ending !== this.expect.lineEnding) {
      this.fail(`record ${this.lineNumber}: ends with ${ending === 'none' ? 'no line ending' : ending}, the agreement says ${this.expect.lineEnding}`);
    }
    if (detailAt(this.layout, line, this.readable + 1)) this.readable++;
    let parsed: { type: string; fields: Record<string, string> };
    try {
      parsed = parsePersoRecord(this.layout, line, this.lineNumber);
    } catch (err) {
      this.fail(messageOf(err));
      return;
    }
    if (this.trailer) this.fail(`record ${this.lineNumber}: a record after the trailer`);
    if (parsed.type === 'header') this.addHeader(parsed.fields);
    else if (parsed.type === 'trailer') this.trailer = parsed.fields;
    else this.addDetail(parsed.fields);
  }

  finish(): CheckedFile {
    if (this.lineNumber === 0) this.fail('the file is empty');
    else if (!this.header && this.layout.header) this.fail('the file has no header record');
    else if (!this.trailer && this.layout.trailer) this.fail('the file has no trailer record');
    else if (this.trailer) this.checkTrailer(this.trailer);
    return this.problem === undefined
      ? { ok: true, records: this.readable }
      : { ok: false, reason: maskPansInText(this.problem), records: this.readable };
  }

  private addHeader(fields: Record<string, string>): void {
    if (this.lineNumber !== 1) return this.fail(`record ${this.lineNumber}: a header record that is not the first record`);
    this.header = fields;
    const e = this.expect;
    this.expectField('header', fields, 'file.issuerCode', e.issuer);
    this.expectField('header', fields, 'file.bureauCode', e.bureau);
    this.expectField('header', fields, 'file.environment', e.environment);
    this.expectField('header', fields, 'file.businessDate', this.headerDate(e.businessDate), 'the date in the file name');
    this.expectField('header', fields, 'file.sequence', e.fileSequence, 'the sequence in the file name');
  }

  private addDetail(fields: Record<string, string>): void {
    if (this.layout.header && !this.header) this.fail(`record ${this.lineNumber}: a detail record before the header`);
    const record = this.detailRecord(fields);
    this.details++;
    if (record.recordSequence !== this.details) {
      this.fail(`record ${this.lineNumber}: record sequence ${record.recordSequence}, expected ${this.details}`);
    }
    const key = `${BigInt(record.contractId)}/${BigInt(record.plasticId)}`;
    if (this.seen.has(key)) this.fail(`record ${this.lineNumber}: card contract ${record.contractId} plastic ${record.plasticId} appears twice`);
    this.seen.add(key);
    this.hashTotal = (this.hashTotal + BigInt(record.contractId)) % HASH_MODULUS;
  }

  private checkTrailer(fields: Record<string, string>): void {
    this.expectNumber('trailer', fields, 'totals.detailCount', BigInt(this.readable), 'detail records in the file');
    this.expectNumber('trailer', fields, 'totals.totalRecords', BigInt(this.lineNumber), 'records in the file');
    this.expectNumber('trailer', fields, 'totals.hashTotal', this.hashTotal, 'the sum of the card contract ids modulo 10^15');
    if (this.header) {
      this.expectField('trailer', fields, 'file.businessDate', this.fieldBySource('header', this.header, 'file.businessDate'), 'the header');
      this.expectField('trailer', fields, 'file.sequence', this.fieldBySource('header', this.header, 'file.sequence'), 'the header');
    }
  }

  /** The file name's YYYYMMDD date as the header writes it (emb-v1: YYMMDD). */
  private headerDate(yyyymmdd: string): string {
    const field = this.layout.header?.fields.find((f) => f.source === 'file.businessDate');
    return field?.format === 'YYMMDD' ? yyyymmdd.slice(2) : yyyymmdd;
  }

  private detailRecord(fields: Record<string, string>): ReceivedRecord {
    const get = (source: Source) => this.fieldBySource('detail', fields, source) ?? '';
    return {
      recordSequence: Number(get('record.sequence') || this.details + 1),
      contractId: get('card.contractId'),
      plasticId: get('card.plasticId'),
      productCode: get('card.productCode'),
      deliveryMethod: get('card.deliveryMethod'),
    };
  }

  private fieldBySource(role: 'header' | 'detail' | 'trailer', fields: Record<string, string>, source: Source): string | undefined {
    const spec: RecordSpec | undefined = this.layout[role];
    const field = spec?.fields.find((f) => f.source === source);
    return field ? fields[field.name] : undefined;
  }

  private expectField(role: 'header' | 'trailer', fields: Record<string, string>, source: Source, expected: string | undefined, what?: string): void {
    const actual = this.fieldBySource(role, fields, source);
    if (actual === undefined || expected === undefined || actual === expected) return;
    const name = this.layout[role]!.fields.find((f) => f.source === source)!.name;
    this.fail(`${role} field ${name} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}${what ? ` (${what})` : ''}`);
  }

  private expectNumber(role: 'trailer', fields: Record<string, string>, source: Source, expected: bigint, what: string): void {
    const actual = this.fieldBySource(role, fields, source);
    if (actual === undefined || BigInt(actual) === expected) return;
    const name = this.layout[role]!.fields.find((f) => f.source === source)!.name;
    this.fail(`trailer field ${name} is ${BigInt(actual)}, but ${what} give ${expected}`);
  }

  /** Keeps the first problem: it is the one a person fixes first. */
  private fail(message: string): void {
    this.problem ??= message;
  }
}
