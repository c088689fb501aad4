import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { InputError, messageOf } from '../errors.js';
import type { Layout, RecordSpec, Source } from '../perso/layout-types.js';
import { readPersoRecords, specOf, type ParsedRecord } from '../perso/parse.js';
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

/**
 * Reads a clear personalization file with the layout's strict reader (record length, field types and
 * values, record order, the layout's line ending, the trailer's counts and hash total) and checks it
 * against the agreement: header fields against the file name, record sequence, no card twice, the
 * trailer's date and sequence those of the header. The first problem decides.
 */
export async function checkPersoFile(clearFile: string, layout: Layout, expect: FileExpectations): Promise<CheckedFile> {
  const agreement = new AgreementCheck(layout, expect);
  try {
    for await (const record of readPersoRecords(layout, createReadStream(clearFile, { encoding: 'latin1' }), expect.lineEnding)) agreement.add(record);
    agreement.finish();
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    // the report rejects every record that can still be read: count them as it will read them
    let records = 0;
    for (const record of readDetailRecords(clearFile, layout)) if (record) records++;
    return { ok: false, reason: maskPansInText(messageOf(err)), records };
  }
  return { ok: true, records: agreement.details };
}

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

/** What the strict reader does not know: the agreement's checks on the records it yields, in order. */
class AgreementCheck {
  details = 0;
  private number = 0;
  private header: Record<string, string> | undefined;
  private readonly seen = new Set<string>();

  constructor(private readonly layout: Layout, private readonly expect: FileExpectations) {}

  add(record: ParsedRecord): void {
    this.number++;
    if (record.type === 'header') this.addHeader(record.fields);
    else if (record.type === 'trailer') this.checkTrailer(record.fields);
    else this.addDetail(record.fields);
  }

  finish(): void {
    if (this.number === 0) throw new InputError('the file is empty');
  }

  private addHeader(fields: Record<string, string>): void {
    this.header = fields;
    const e = this.expect;
    this.expectField('header', fields, 'file.issuerCode', e.issuer);
    this.expectField('header', fields, 'file.bureauCode', e.bureau);
    this.expectField('header', fields, 'file.environment', e.environment);
    this.expectField('header', fields, 'file.businessDate', this.headerDate(e.businessDate), 'the date in the file name');
    this.expectField('header', fields, 'file.sequence', e.fileSequence, 'the sequence in the file name');
  }

  private addDetail(fields: Record<string, string>): void {
    const get = (source: Source) => this.fieldBySource('detail', fields, source) ?? '';
    this.details++;
    const sequence = Number(get('record.sequence') || this.details);
    if (sequence !== this.details) this.fail(`record sequence ${sequence}, expected ${this.details}`);
    const [contractId, plasticId] = [get('card.contractId'), get('card.plasticId')];
    const key = `${BigInt(contractId)}/${BigInt(plasticId)}`;
    if (this.seen.has(key)) this.fail(`card contract ${contractId} plastic ${plasticId} appears twice`);
    this.seen.add(key);
  }

  private checkTrailer(fields: Record<string, string>): void {
    if (!this.header) return;
    this.expectField('trailer', fields, 'file.businessDate', this.fieldBySource('header', this.header, 'file.businessDate'), 'the header');
    this.expectField('trailer', fields, 'file.sequence', this.fieldBySource('header', this.header, 'file.sequence'), 'the header');
  }

  /** The file name's YYYYMMDD date as the header writes it (emb-v1: YYMMDD). */
  private headerDate(yyyymmdd: string): string {
    const field = this.layout.header?.fields.find((f) => f.source === 'file.businessDate');
    return field?.format === 'YYMMDD' ? yyyymmdd.slice(2) : yyyymmdd;
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

  private fail(message: string): never {
    throw new InputError(message, { record: this.number });
  }
}
