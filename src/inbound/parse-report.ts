import { isUtf8 } from 'node:buffer';
import { createReadStream, statSync } from 'node:fs';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { InputError, isSystemError, messageOf } from '../errors.js';
import { maskPansInText } from '../security/mask.js';
import {
  LISTS, REPORT_VERSION, type BureauReport, type ListName, type RejectionRecord, type ReportHeader, type ShipmentRecord, type StockItem,
} from './report-format.js';
import { skeletonEvents, type SkeletonEvent } from './xml-skeleton.js';
import { readFields, type Fields } from './report-fields.js';

/**
 * Reads a clear bureau report: skeleton split by xml-skeleton.ts, then header and records parsed in
 * groups with fast-xml-parser (identifiers stay strings) and checked against docs/bureau-interface.md §2.
 * Every error about the content is an InputError naming the element path; an error of the system
 * reading the file (disk, permissions) passes through unchanged: it is a local fault, not the report's.
 */
export interface ReportReadOptions {
  /** refuse a clear report larger than this (reports.maxClearBytes) */
  maxBytes: number;
  /** the header must name our issuer and our bureau */
  issuer: string;
  bureau: string;
  /** records parsed per fast-xml-parser call (and per group yielded) */
  groupSize?: number;
}

export type RecordGroup =
  | { list: 'Rejections'; records: RejectionRecord[] }
  | { list: 'Shipments'; records: ShipmentRecord[] }
  | { list: 'Stock'; records: StockItem[] };

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  // escapes are decoded by `unescape` below (only the predefined five and character references):
  // any DTD was refused by the skeleton, and the parser's own entity handling, which we would not
  // need, costs a noticeable share of the parse time (bench/RESULTS.md)
  processEntities: false,
  htmlEntities: false,
  tagValueProcessor: (_name: string, value: string) => (value.includes('&') ? unescapeXml(value) : value),
  ignoreDeclaration: true,
  ignorePiTags: true,
});

function fileText(file: string, maxBytes: number): AsyncIterable<string> {
  const size = statSync(file).size;
  if (size > maxBytes) throw new InputError(`clear report of ${size} bytes exceeds the limit of ${maxBytes} bytes (reports.maxClearBytes)`);
  return utf8Text(createReadStream(file, { highWaterMark: 1 << 20 }));
}

/**
 * The text of a report, which must be UTF-8 (bureau-interface): bytes that are not (a Latin-1 export
 * without a declaration) are refused, where a lenient decoder would turn each accented letter into
 * U+FFFD and the report would be applied so. The text before the first bad byte is given first, so
 * that a declaration naming another encoding is what the error says. Checked by `isUtf8` and decoded
 * by `toString`, Node's own UTF-8 code (a fatal TextDecoder goes through ICU and made the parse of a
 * large report measurably slower: bench/RESULTS.md, "Receive"), a chunk at a time up to its last whole
 * character.
 */
export async function* utf8Text(bytes: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let pending: Buffer = Buffer.alloc(0);
  let offset = 0;
  for await (const chunk of bytes) {
    const buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const whole = buf.subarray(0, wholeCharacters(buf));
    if (!isUtf8(whole)) {
      const valid = whole.toString('utf8').split('\uFFFD', 1)[0]!;
      yield valid;
      throw new InputError(`BureauReport: not UTF-8 text at byte ${offset + Buffer.byteLength(valid)}; a report must be UTF-8`);
    }
    yield whole.toString('utf8');
    offset += whole.length;
    pending = buf.subarray(whole.length);
  }
  if (pending.length) throw new InputError(`BureauReport: not UTF-8 text: the file ends inside a character; a report must be UTF-8`);
}

/** The length of buf up to its last whole UTF-8 character: a character cut by the chunk's end waits for the next. */
function wholeCharacters(buf: Buffer): number {
  for (let i = buf.length - 1; i >= Math.max(0, buf.length - 3); i--) {
    const byte = buf[i]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: its lead is further back
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + length <= buf.length ? buf.length : i;
  }
  return buf.length; // no lead byte in the last three: not UTF-8, which isUtf8 then says
}

/** The header of a report file; stops reading as soon as the header is found. */
export async function readReportHeader(file: string, options: ReportReadOptions): Promise<ReportHeader> {
  try {
    for await (const event of skeletonEvents(fileText(file, options.maxBytes))) {
      if (event.kind === 'root') checkVersion(event.version);
      if (event.kind === 'header') return parseHeader(event.xml, options);
    }
  } catch (err) {
    throw asContentError(err, 'BureauReport');
  }
  throw new InputError('BureauReport/Header: missing');
}

/** The records of a report file, list by list in document order, in groups of at most `groupSize`. */
export async function* readReportRecords(file: string, header: ReportHeader, options: ReportReadOptions): AsyncGenerator<RecordGroup> {
  try {
    yield* recordGroups(skeletonEvents(fileText(file, options.maxBytes)), header, options);
  } catch (err) {
    throw asContentError(err, 'BureauReport');
  }
}

/**
 * The one rule of what a failure while reading a report means: an error of the system (it carries
 * an errno code and a syscall: disk, permissions, I/O) is a local fault and passes unchanged; any
 * other failure (the XML library's own errors included) comes from the content and becomes an
 * InputError, so the report is quarantined instead of stopping every run.
 */
export function asContentError(err: unknown, path: string): Error {
  if (isSystemError(err)) return err as Error;
  if (err instanceof InputError) {
    // messages quote what the file holds (a tag, the version, an encoding name, an element's name):
    // a PAN in fullwidth or other decimal digits there would be stored and shown as the quarantine's
    // reason, which the ASCII-only scrubbers downstream leave as it is
    err.message = maskPansInText(err.message);
    if (err.stack) err.stack = maskPansInText(err.stack);
    return err;
  }
  return new InputError(`${path}: unreadable content: ${quoted(err)}`, {}, { cause: err });
}

/** A whole report from text in memory (tests, the sandbox, small reports). */
export async function parseReport(xml: string, options: ReportReadOptions): Promise<BureauReport> {
  try {
    return await parseWholeReport(xml, options);
  } catch (err) {
    throw asContentError(err, 'BureauReport');
  }
}

async function parseWholeReport(xml: string, options: ReportReadOptions): Promise<BureauReport> {
  if (Buffer.byteLength(xml) > options.maxBytes) throw new InputError(`clear report exceeds the limit of ${options.maxBytes} bytes (reports.maxClearBytes)`);
  let header: ReportHeader | undefined;
  for await (const event of skeletonEvents(once(xml))) {
    if (event.kind === 'root') checkVersion(event.version);
    if (event.kind === 'header') header = parseHeader(event.xml, options);
  }
  if (!header) throw new InputError('BureauReport/Header: missing');
  const report: BureauReport = { header, rejections: [], shipments: [], stock: [] };
  for await (const group of recordGroups(skeletonEvents(once(xml)), header, options)) {
    if (group.list === 'Rejections') report.rejections.push(...group.records);
    else if (group.list === 'Shipments') report.shipments.push(...group.records);
    else report.stock.push(...group.records);
  }
  return report;
}

async function* once(text: string): AsyncGenerator<string> {
  yield text;
}

function checkVersion(version: string | undefined): void {
  if (version !== REPORT_VERSION) {
    throw new InputError(`BureauReport/@version: ${version === undefined ? 'missing' : `unknown report version ${JSON.stringify(version.slice(0, 20))}`}, expected ${REPORT_VERSION}`);
  }
}

/**
 * XML characters parsed at once at most. A real record is a few hundred characters, so a group of
 * 1,000 stays far below; but a record may be up to 64 KiB (xml-skeleton.ts) of small elements, and
 * fast-xml-parser builds an object for each: 1,000 such records in one call took 2.7 GB and 100 s
 * before the first record was refused. The group ends at this many characters as well (2 MiB: 5,000
 * real records).
 */
const GROUP_CHARS = 2 << 20;

async function* recordGroups(events: AsyncIterable<SkeletonEvent>, header: ReportHeader, options: ReportReadOptions): AsyncGenerator<RecordGroup> {
  const size = options.groupSize ?? 1000;
  let group: Array<Extract<SkeletonEvent, { kind: 'record' }>> = [];
  let chars = 0;
  for await (const event of events) {
    if (event.kind === 'root') checkVersion(event.version);
    if (event.kind !== 'record') continue;
    if (event.list !== 'Stock' && !header.sourceFile) throw new InputError(`${event.path}: a record of a contract in a report whose Header/SourceFile is empty`);
    if (group.length && (group.length >= size || chars + event.xml.length > GROUP_CHARS || group[0]!.list !== event.list)) {
      yield parseGroup(group);
      group = [];
      chars = 0;
    }
    group.push(event);
    chars += event.xml.length;
  }
  if (group.length) yield parseGroup(group);
}

/** Parses consecutive records of one list in one fast-xml-parser call (per-call overhead dominates small records). */
function parseGroup(events: Array<Extract<SkeletonEvent, { kind: 'record' }>>): RecordGroup {
  const list = events[0]!.list;
  const element = LISTS[list];
  const xml = `<G>${events.map((e) => e.xml).join('')}</G>`;
  if (!validates(xml) || UNDECLARED_ENTITY.test(xml)) {
    for (const e of events) checkWellFormed(e.xml, e.path);
    checkWellFormed(xml, `BureauReport/${list}`);
  }
  const parsed = parseOrLocate(xml, events) as { G: Record<string, unknown> | '' };
  const raw = parsed.G === '' ? [] : ([] as unknown[]).concat(parsed.G[element] ?? []);
  if (raw.length !== events.length) throw new InputError(`BureauReport/${list}: records could not be separated (${raw.length} of ${events.length})`);
  const fields = raw.map((r, i) => readFields(r, events[i]!.path));
  if (list === 'Rejections') return { list, records: fields.map(toRejection) };
  if (list === 'Shipments') return { list, records: fields.map(toShipment) };
  return { list, records: fields.map(toStockItem) };
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|apos|#\d{1,7}|#x[0-9A-Fa-f]{1,6});/g, (_m, ref: string) => {
    if (ref[0] !== '#') return PREDEFINED[ref]!;
    const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
  });
}

/** Any entity reference but the five predefined ones and character references: none can be declared here. */
const UNDECLARED_ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#\d{1,7}|#x[0-9A-Fa-f]{1,6});)/;

/** A library's error message as we repeat it: short, and without a PAN it may have quoted from the input. */
function quoted(err: unknown): string {
  return maskPansInText(messageOf(err)).slice(0, 200);
}

function validates(xml: string): boolean {
  try {
    return XMLValidator.validate(xml) === true;
  } catch {
    return false;
  }
}

/**
 * fast-xml-parser throws plain errors for what it refuses (nesting deeper than it allows, names
 * like __proto__ or constructor): each becomes an InputError naming the record.
 */
function parseXml(xml: string, path: string): unknown {
  try {
    return parser.parse(xml);
  } catch (err) {
    throw new InputError(`${path}: refused XML: ${quoted(err)}`, {}, { cause: err });
  }
}

/** Parses a group at once; when that fails, record by record, to name the record at fault. */
function parseOrLocate(xml: string, events: Array<Extract<SkeletonEvent, { kind: 'record' }>>): unknown {
  try {
    return parser.parse(xml);
  } catch {
    for (const e of events) parseXml(e.xml, e.path);
    return parseXml(xml, `BureauReport/${events[0]!.list}`);
  }
}

function checkWellFormed(xml: string, path: string): void {
  let result: ReturnType<typeof XMLValidator.validate>;
  try {
    result = XMLValidator.validate(xml);
  } catch (err) {
    throw new InputError(`${path}: malformed XML: ${quoted(err)}`, {}, { cause: err });
  }
  if (result !== true) throw new InputError(`${path}: malformed XML: ${maskPansInText(result.err.msg)}`);
  const entity = UNDECLARED_ENTITY.exec(xml);
  if (entity) throw new InputError(`${path}: malformed XML: undeclared entity reference ${JSON.stringify(xml.slice(entity.index, entity.index + 12).split(';')[0] + ';')}`);
}

function parseHeader(xml: string, options: ReportReadOptions): ReportHeader {
  const path = 'BureauReport/Header';
  checkWellFormed(xml, path);
  const f = readFields((parseXml(xml, path) as { Header: unknown }).Header, path);
  const issuer = f.text('Issuer', 8, true);
  const bureau = f.text('Bureau', 8, true);
  if (issuer !== options.issuer) f.fail('Issuer', `is ${JSON.stringify(issuer)}, expected our issuer ${options.issuer}`);
  if (bureau !== options.bureau) f.fail('Bureau', `is ${JSON.stringify(bureau)}, expected bureau ${options.bureau}`);
  const sourceFile = f.text('SourceFile', 120, false, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  const header: ReportHeader = {
    issuer, bureau, sourceFile,
    reportDate: f.date('ReportDate', true)!,
    createdAt: f.dateTime('CreatedAt'),
    recordsReceived: f.integer('RecordsReceived', sourceFile !== ''),
  };
  f.rejectUnknown();
  return header;
}

function toRejection(f: Fields): RejectionRecord {
  const r: RejectionRecord = {
    path: f.path, recordSequence: f.integer('RecordSequence', true)!, cardContractId: f.digits('CardContractId', 15),
    plasticId: f.digits('PlasticId', 12), code: f.text('Code', 10, true), reason: f.text('Reason', 500, false),
  };
  f.rejectUnknown();
  return r;
}

function toShipment(f: Fields): ShipmentRecord {
  const s: ShipmentRecord = {
    path: f.path, recordSequence: f.integer('RecordSequence', true)!, cardContractId: f.digits('CardContractId', 15),
    plasticId: f.digits('PlasticId', 12), expectedShipDate: f.date('ExpectedShipDate', false), shipDate: f.date('ShipDate', false),
    courier: f.text('Courier', 50, false), trackingNumber: f.text('TrackingNumber', 100, false),
  };
  if (!s.expectedShipDate && !s.shipDate) f.fail('ShipDate', 'neither ShipDate nor ExpectedShipDate is given');
  f.rejectUnknown();
  return s;
}

function toStockItem(f: Fields): StockItem {
  const item: StockItem = {
    path: f.path, productCode: f.text('ProductCode', 20, true, /^[A-Za-z0-9_-]+$/), opening: f.integer('Opening', true)!,
    received: f.integer('Received', true)!, used: f.integer('Used', true)!, spoiled: f.integer('Spoiled', true)!,
    closing: f.integer('Closing', true)!, minStock: f.integer('MinStock', true)!,
  };
  f.rejectUnknown();
  return item;
}

export type { ListName };
