import { Readable } from 'node:stream';
import type { ContractForPerso } from '../domain/contract.js';
import { ConfigError, InputError } from '../errors.js';
import { lineEndingOf, pad } from './layout.js';
import { recordSpecs, type FieldSpec, type Layout, type LineEnding, type RecordSpec, type Source } from './layout-types.js';
import { detailWriterOf } from './detail-writer.js';
import { contractIdOf, invalidOf, type PreparedCard } from './prepare.js';

/** Everything about the file that is not a card. Nothing is taken from the wall clock: a regeneration yields the same bytes. */
export interface FileContext {
  issuerCode: string;
  bureauCode: string;
  /** YYYY-MM-DD */
  businessDate: string;
  /** daily file sequence, 1… */
  sequence: number;
  /** creation time written in the header (HHMMSS, UTC) */
  createdAt: Date;
  environment: 'P' | 'T';
  /** the layout's first line ending when not given; one the layout does not allow is a ConfigError */
  lineEnding?: LineEnding;
}

/** What the trailer says, for the batch row: detail records (cards) and the hash total (sum of contract ids mod 10^15). */
export interface PersoTotals {
  records: number;
  hashTotal: string;
}

/** The clear file as a byte stream; `totals` is set (and a 'totals' event emitted) just before it ends. */
export interface PersoFileStream extends Readable {
  totals?: PersoTotals;
}

const CHUNK_BYTES = 64 * 1024;
const HASH_MODULUS = 10n ** 15n;

/**
 * Renders header, one detail record per contract (record sequence 1..n in iteration order) and
 * trailer, in chunks of about 64 KiB; memory does not depend on the number of contracts. A contract
 * that cannot be rendered fails the stream with an InputError naming the record and field (the
 * send job sets such contracts aside with prepareCard first).
 */
export function renderPersoFile(layout: Layout, ctx: FileContext, contracts: AsyncIterable<ContractForPerso> | Iterable<ContractForPerso>): PersoFileStream {
  const writer = detailWriterOf(layout);
  return renderFile(layout, ctx, contracts, (contract, template, target, at, count) => {
    target.set(template, at);
    try {
      writer.write(contract, ctx.businessDate, target, at);
      return contractIdOf(contract);
    } catch (err) {
      const invalid = invalidOf(err);
      throw invalid ? new InputError(withoutFieldPrefix(invalid), { record: count, field: invalid.field }) : err;
    }
  });
}

/**
 * The same file as renderPersoFile, from cards already prepared with prepareCard for the same layout
 * and business date (each card checked and laid out once, not twice): byte for byte the file
 * renderPersoFile makes of their contracts.
 */
export function renderPreparedFile(layout: Layout, ctx: FileContext, cards: AsyncIterable<PreparedCard> | Iterable<PreparedCard>): PersoFileStream {
  const recordLength = detailWriterOf(layout).template.length;
  // the parts of the file's detail template a prepared record does not hold: file.* fields and the line ending
  const fileRanges = layout.detail.fields.filter((f) => f.source?.startsWith('file.')).map((f) => [f.offset, f.offset + f.length] as const);
  return renderFile(layout, ctx, cards, (card, template, target, at) => {
    if (card.record.length !== recordLength) throw new Error(`a prepared record of ${card.record.length} bytes for a layout of ${recordLength}`);
    target.set(card.record, at);
    for (const [from, to] of fileRanges) template.copy(target, at + from, from, to);
    template.copy(target, at + recordLength, recordLength);
    return card.contractId;
  });
}

/** Puts one record (detail template, card fields) at target[at…] and returns its contract id (digits). */
type PutRecord<T> = (item: T, template: Buffer, target: Buffer, at: number, count: number) => string;

function renderFile<T>(layout: Layout, ctx: FileContext, items: AsyncIterable<T> | Iterable<T>, put: PutRecord<T>): PersoFileStream {
  const eol = lineEndingOf(layout, ctx.lineEnding) === 'CRLF' ? '\r\n' : '\n';
  const stream: PersoFileStream = Readable.from(generate(), { objectMode: false });
  async function* generate(): AsyncGenerator<Buffer> {
    const fileValue = fileValues(ctx);
    const out = new ChunkWriter();
    if (layout.header) out.addText(renderFixed(layout, layout.header, fileValue) + eol, 0);
    const writer = detailWriterOf(layout);
    const template = detailTemplate(layout, writer.template, fileValue, eol);
    const sequence = sequenceWriter(layout);
    const hash = new HashTotal();
    let count = 0;
    for await (const item of items) {
      count++;
      const at = out.reserve(template.length);
      hash.add(put(item, template, out.buffer, at, count));
      sequence(out.buffer, at, count);
      out.commit(template.length);
      if (out.full()) yield out.take();
    }
    const totals: PersoTotals = { records: count, hashTotal: String(hash.modulo(HASH_MODULUS)) };
    if (layout.trailer) {
      const totalRecords = count + (layout.header ? 1 : 0) + 1;
      out.addText(renderFixed(layout, layout.trailer, (source, field) => {
        if (source === 'totals.detailCount') return String(count);
        if (source === 'totals.totalRecords') return String(totalRecords);
        if (source === 'totals.hashTotal') return String(hash.modulo(10n ** BigInt(field.length)));
        return fileValue(source, field);
      }) + eol, totalRecords);
    }
    if (!out.empty()) yield out.take();
    stream.totals = totals;
    stream.emit('totals', totals);
  }
  return stream;
}

type ValueOf = (source: Source, field: FieldSpec) => string;

/**
 * Why this issuer's and bureau's own values (their codes, the environment) cannot be written in the
 * layout's file.* fields, or undefined. Checked at load: a layout whose header cannot hold the issuer's
 * code would otherwise load, and fail every send after its cards were claimed.
 */
export function fileFieldsProblem(layout: Layout, ctx: Pick<FileContext, 'issuerCode' | 'bureauCode' | 'environment'>): string | undefined {
  const fileValue = fileValues({ ...ctx, businessDate: '2000-01-01', sequence: 1, createdAt: new Date(0) });
  try {
    for (const spec of recordSpecs(layout)) {
      for (const field of spec.fields) if (field.source?.startsWith('file.')) fixedValue(layout, spec, field, fileValue);
    }
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return undefined;
}

function fileValues(ctx: FileContext): ValueOf {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(ctx.businessDate)) throw new ConfigError(`business date ${JSON.stringify(ctx.businessDate)} is not YYYY-MM-DD`);
  const date = ctx.businessDate.replace(/-/g, '');
  const time = ctx.createdAt.toISOString().slice(11, 19).replace(/:/g, '');
  return (source, field) => {
    switch (source) {
      case 'file.issuerCode': return ctx.issuerCode;
      case 'file.bureauCode': return ctx.bureauCode;
      case 'file.businessDate': return field.format === 'YYMMDD' ? date.slice(2) : date;
      case 'file.creationTime': return time;
      case 'file.sequence': return String(ctx.sequence);
      case 'file.environment': return ctx.environment;
      default: throw new Error(`no value for ${source} in a ${field.name} field`);
    }
  };
}

/** A header or trailer: every value checked (digits for N, allowed values, fits, printable). */
function renderFixed(layout: Layout, spec: RecordSpec, valueOf: ValueOf): string {
  let record = '';
  for (const field of spec.fields) record += fixedValue(layout, spec, field, valueOf);
  return record;
}

function fixedValue(layout: Layout, spec: RecordSpec, field: FieldSpec, valueOf: ValueOf): string {
  if (field.type === 'constant') return field.value!;
  if (field.type === 'filler') return ' '.repeat(field.length);
  const value = valueOf(field.source!, field);
  const wrong = (problem: string) => new ConfigError(`layout ${layout.name}, ${spec.role} field ${field.name}: ${JSON.stringify(value)} ${problem}`);
  if ((field.type === 'N' || field.type === 'date') && !/^\d*$/.test(value)) throw wrong('must be digits');
  if (!/^[\x20-\x7e]*$/.test(value)) throw wrong('must be printable ASCII');
  if (value.length > field.length) throw wrong(`does not fit ${field.length} characters`);
  if (field.values && !field.values.includes(value)) throw wrong(`is not one of ${field.values.join(', ')}`);
  if (field.required && !value) throw wrong('is required');
  return pad(value, field.length, field.align, field.padding);
}

/** The detail template of this file: the layout's, with the file.* values and the line ending. */
function detailTemplate(layout: Layout, layoutTemplate: Buffer, fileValue: ValueOf, eol: string): Buffer {
  const template = Buffer.concat([layoutTemplate, Buffer.from(eol, 'latin1')]);
  for (const field of layout.detail.fields) {
    if (field.source?.startsWith('file.')) template.write(fixedValue(layout, layout.detail, field, fileValue), field.offset, 'latin1');
  }
  return template;
}

/** Writes the record sequence into its zero-filled field (digits from the right); refuses an overflow. */
function sequenceWriter(layout: Layout): (target: Buffer, offset: number, sequence: number) => void {
  const field = layout.detail.fields.find((f) => f.source === 'record.sequence');
  if (!field) return () => undefined;
  const max = 10 ** field.length - 1;
  const zeroFilledRight = field.align === 'right' && field.padding === '0';
  return (target, offset, sequence) => {
    if (sequence > max) throw new InputError(`record sequence ${sequence} does not fit ${field.length} digits`, { record: sequence, field: field.name });
    if (!zeroFilledRight) {
      target.write(pad(String(sequence), field.length, field.align, field.padding), offset + field.offset, 'latin1');
      return;
    }
    // the template holds zeros there: write the digits from the right
    for (let at = offset + field.offset + field.length - 1, n = sequence; n > 0; at--, n = Math.floor(n / 10)) target[at] = 0x30 + (n % 10);
  };
}

/** The reason without its leading "field: " (InputError names the field itself). */
function withoutFieldPrefix(invalid: { field: string; reason: string }): string {
  return invalid.reason.startsWith(`${invalid.field}: `) ? invalid.reason.slice(invalid.field.length + 2) : invalid.reason;
}

/**
 * Records written straight into ~64 KiB buffers, handed out as they fill: memory does not grow with
 * the number of records.
 */
class ChunkWriter {
  buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;

  /** Room for `bytes` more; returns where they go (commit them after writing). */
  reserve(bytes: number): number {
    if (this.used + bytes > this.buffer.length) {
      const bigger = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, this.used + bytes));
      this.buffer.copy(bigger, 0, 0, this.used);
      this.buffer = bigger;
    }
    return this.used;
  }

  commit(bytes: number): void {
    this.used += bytes;
  }

  /** A header or trailer; a non-ASCII character would make its UTF-8 length differ from its length. */
  addText(record: string, recordNumber: number): void {
    const at = this.reserve(record.length * 3);
    const written = this.buffer.write(record, at, 'utf8');
    if (written !== record.length) throw new InputError('the record holds a character outside ASCII', { record: recordNumber });
    this.commit(written);
  }

  full(): boolean {
    return this.used >= CHUNK_BYTES - 4096;
  }

  empty(): boolean {
    return this.used === 0;
  }

  take(): Buffer {
    const chunk = this.buffer.subarray(0, this.used);
    this.buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    this.used = 0;
    return chunk;
  }
}

/**
 * Sum of contract ids (digits, checked by prepareCard), exact: ids below 10^15 are added as numbers
 * while the sum stays below 2^53 and folded into a BigInt before it could lose precision.
 */
class HashTotal {
  private big = 0n;
  private small = 0;

  add(contractId: string): void {
    if (contractId.length > 15) {
      this.big += BigInt(contractId);
      return;
    }
    this.small += Number(contractId);
    if (this.small >= 8e15) this.fold();
  }

  modulo(modulus: bigint): bigint {
    this.fold();
    return this.big % modulus;
  }

  private fold(): void {
    this.big += BigInt(this.small);
    this.small = 0;
  }
}
