import { createReadStream } from 'node:fs';
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
 * The result of the strict check. A broken file still lists the detail records that could be read
 * (leniently, by position), so that the report can reject each of them.
 */
export type CheckedFile =
  | { ok: true; records: ReceivedRecord[] }
  | { ok: false; reason: string; records: ReceivedRecord[] };

const HASH_MODULUS = 10n ** 15n;

/** Reads a clear personalization file and checks it strictly against the layout and the agreement. */
export async function checkPersoFile(clearFile: string, layout: Layout, expect: FileExpectations): Promise<CheckedFile> {
  const check = new PersoFileCheck(layout, expect);
  for await (const { text, ending } of splitRecords(clearFile)) check.add(text, ending);
  return check.finish();
}

type LineEnding = 'LF' | 'CRLF' | 'none';

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
  private readonly records: ReceivedRecord[] = [];
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
    let parsed: { type: string; fields: Record<string, string> };
    try {
      parsed = parsePersoRecord(this.layout, line, this.lineNumber);
    } catch (err) {
      this.fail(messageOf(err));
      this.readLeniently(line);
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
      ? { ok: true, records: this.records }
      : { ok: false, reason: maskPansInText(this.problem), records: this.records };
  }

  private addHeader(fields: Record<string, string>): void {
    if (this.lineNumber !== 1) return this.fail(`record ${this.lineNumber}: a header record that is not the first record`);
    this.header = fields;
    const e = this.expect;
    this.expectField('header', fields, 'file.issuerCode', e.issuer);
    this.expectField('header', fields, 'file.bureauCode', e.bureau);
    this.expectField('header', fields, 'file.environment', e.environment);
    this.expectField('header', fields, 'file.businessDate', e.businessDate, 'the date in the file name');
    this.expectField('header', fields, 'file.sequence', e.fileSequence, 'the sequence in the file name');
  }

  private addDetail(fields: Record<string, string>): void {
    if (this.layout.header && !this.header) this.fail(`record ${this.lineNumber}: a detail record before the header`);
    const record = this.detailRecord(fields);
    if (record.recordSequence !== this.records.length + 1) {
      this.fail(`record ${this.lineNumber}: record sequence ${record.recordSequence}, expected ${this.records.length + 1}`);
    }
    const key = `${BigInt(record.contractId)}/${BigInt(record.plasticId)}`;
    if (this.seen.has(key)) this.fail(`record ${this.lineNumber}: card contract ${record.contractId} plastic ${record.plasticId} appears twice`);
    this.seen.add(key);
    this.hashTotal = (this.hashTotal + BigInt(record.contractId)) % HASH_MODULUS;
    this.records.push(record);
  }

  private checkTrailer(fields: Record<string, string>): void {
    const details = this.records.length;
    this.expectNumber('trailer', fields, 'totals.detailCount', BigInt(details), 'detail records in the file');
    this.expectNumber('trailer', fields, 'totals.totalRecords', BigInt(this.lineNumber), 'records in the file');
    this.expectNumber('trailer', fields, 'totals.hashTotal', this.hashTotal, 'the sum of the card contract ids modulo 10^15');
    if (this.header) {
      this.expectField('trailer', fields, 'file.businessDate', this.fieldBySource('header', this.header, 'file.businessDate'), 'the header');
      this.expectField('trailer', fields, 'file.sequence', this.fieldBySource('header', this.header, 'file.sequence'), 'the header');
    }
  }

  private detailRecord(fields: Record<string, string>): ReceivedRecord {
    const get = (source: Source) => this.fieldBySource('detail', fields, source) ?? '';
    return {
      recordSequence: Number(get('record.sequence') || this.records.length + 1),
      contractId: get('card.contractId'),
      plasticId: get('card.plasticId'),
      productCode: get('card.productCode'),
      deliveryMethod: get('card.deliveryMethod'),
    };
  }

  /** A detail record the strict parser refused: its ids by position, if they are digits at all. */
  private readLeniently(line: string): void {
    const spec = specOf(this.layout, line);
    if (spec?.role !== 'detail') return;
    const fields: Record<string, string> = {};
    for (const f of spec.fields) fields[f.name] = line.slice(f.offset, f.offset + f.length).trimEnd();
    const record = this.detailRecord(fields);
    if (/^\d+$/.test(record.contractId) && /^\d+$/.test(record.plasticId)) this.records.push({ ...record, recordSequence: this.records.length + 1 });
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
