import type { ContractForPerso } from '../domain/contract.js';
import {
  charsetApplied, checkCountry, checkExpiry, checkFits, checkPan, digitsOf, fitted, Unfit,
} from './checks.js';
import { embossName, track1Name } from './emboss.js';
import { TRANSFORMS } from './transforms.js';
import { CARD_SOURCES, type CardSource, type FieldSpec, type Layout } from './layout-types.js';

/**
 * Writes the card part of a detail record as bytes, straight into the output buffer: the hot path
 * of rendering. A record starts as a copy of the template (constants, filler, every field's padding);
 * each card field is then checked and its characters written over it. Plain values (ASCII words,
 * the common case) are checked, uppercased and written in one pass over their characters; anything
 * else goes through the string rules of emboss.ts and checks.ts, so both paths give the same bytes.
 */
export interface DetailWriter {
  /** the detail record with only the layout's constants and padding (recordLength bytes) */
  template: Buffer;
  /** checks the card and writes its fields at target[offset…]; throws Unfit for the first problem */
  write(contract: ContractForPerso, businessDate: string, target: Buffer, offset: number): void;
}

const enum Step { None, Digits, Pan, Expiry, Text, Checked, Country, Transform, EmbossName, Track1 }
interface FieldPlan {
  field: FieldSpec;
  step: Step;
  source: CardSource | undefined;
  /** bytes allowed as they are (uppercased) on the one-pass path, by char code; 0 = take the string path */
  table: Uint8Array | undefined;
  /** the padding as a byte (Buffer.fill with a number is much faster than with a string) */
  paddingByte: number;
  /** string-path fields repeat from card to card (request type, country, expiry): the last input and its checked value */
  lastText: string | undefined;
  lastDate: string | undefined;
  lastValue: string;
}

const writers = new WeakMap<Layout, DetailWriter>();

export function detailWriterOf(layout: Layout): DetailWriter {
  let writer = writers.get(layout);
  if (!writer) {
    writer = makeDetailWriter(layout);
    writers.set(layout, writer);
  }
  return writer;
}

function makeDetailWriter(layout: Layout): DetailWriter {
  const plans = layout.detail.fields.map(planField).filter((p) => p.step !== Step.None);
  const mustBeEmpty = layout.mustBeEmpty;
  const template = Buffer.alloc(layout.recordLength, 0x20);
  for (const field of layout.detail.fields) {
    template.write(field.value ?? field.padding.repeat(field.length), field.offset, 'latin1');
  }
  return {
    template,
    write(contract, businessDate, target, offset) {
      if (contract.cardForm !== 'physical') throw new Unfit('cardForm', `a ${contract.cardForm} card is never sent to the bureau`);
      for (let i = 0; i < mustBeEmpty.length; i++) {
        const name = mustBeEmpty[i]!;
        if (asText(contract[name]).trim() !== '') throw new Unfit(name, `has a value, and layout ${layout.name} has no field for it (the card is not sent without it)`);
      }
      for (let i = 0; i < plans.length; i++) writeField(plans[i]!, contract, businessDate, target, offset);
    },
  };
}

function planField(field: FieldSpec): FieldPlan {
  const plan = (step: Step, table?: Uint8Array): FieldPlan => ({
    field, step, source: cardSource(field), table, paddingByte: field.padding.charCodeAt(0), lastText: undefined, lastDate: undefined, lastValue: '',
  });
  if (field.source === 'emboss.name') return plan(Step.EmbossName);
  if (field.source === 'emboss.track1') return plan(Step.Track1);
  const source = cardSource(field);
  if (!source) return plan(Step.None);
  if (source === 'expiry') return plan(Step.Expiry);
  // before the N plans: a PAN laid out as an N field still gets its length and Luhn checks, and its
  // problems are worded with the PAN masked
  if (source === 'pan') return plan(Step.Pan);
  if (field.type === 'N') return plan(field.values ? Step.Checked : Step.Digits);
  if (field.transform) return plan(Step.Transform);
  if (source === 'country' && field.charset) return plan(Step.Country);
  if (!field.charset) throw new Error(`field ${field.name}: AN card field without a charset`);
  // fields with allowed values need the whole string to compare: they take the (remembered) string path
  return field.values ? plan(Step.Checked) : plan(Step.Text, FAST_TABLES[field.charset]);
}

function cardSource(field: FieldSpec): CardSource | undefined {
  const name = field.source?.startsWith('card.') ? field.source.slice(5) : undefined;
  return name && (CARD_SOURCES as readonly string[]).includes(name) ? (name as CardSource) : undefined;
}

function writeField(plan: FieldPlan, c: ContractForPerso, businessDate: string, target: Buffer, offset: number): void {
  const field = plan.field;
  const at = offset + field.offset;
  switch (plan.step) {
    case Step.Text: {
      const text = asText(c[plan.source!]);
      if (text.length === 0) {
        checkFits(field, text); // required?
        return; // the template holds the padding
      }
      const start = field.align === 'left' ? at : at + field.length - text.length;
      if (text.length <= field.length && writePlain(text, plan.table!, target, start)) return;
      target.fill(plan.paddingByte, at, at + field.length);
      return writeAscii(field, checkFits(field, charsetApplied(field, text)), target, at);
    }
    case Step.Digits: {
      const text = asText(c[plan.source!]);
      const start = field.align === 'left' ? at : at + field.length - text.length;
      if (text.length > 0 && text.length <= field.length && writeDigits(text, target, start)) return;
      target.fill(plan.paddingByte, at, at + field.length);
      return writeAscii(field, checkFits(field, digitsOf(field, text)), target, at);
    }
    case Step.Pan: return writeAscii(field, checkFits(field, checkPan(field, asText(c.pan))), target, at);
    case Step.Expiry:
    case Step.Checked:
    case Step.Country:
    case Step.Transform: {
      const text = asText(c[plan.source!]);
      if (text !== plan.lastText || businessDate !== plan.lastDate) {
        plan.lastValue = checkedValue(plan, text, businessDate);
        plan.lastText = text;
        plan.lastDate = businessDate;
      }
      return writeAscii(field, plan.lastValue, target, at);
    }
    case Step.EmbossName: {
      if (!c.embossedName && field.align === 'left' && writeTwoNames(asText(c.firstName), SPACE, asText(c.lastName), FAST_TABLES.name, field, target, at)) return;
      target.fill(plan.paddingByte, at, at + field.length);
      const name = embossName(asText(c.firstName), asText(c.lastName), c.embossedName, field.length);
      return writeAscii(field, checkFits(field, fitted(field, name, 'the name')), target, at);
    }
    case Step.Track1: {
      if (field.align === 'left' && writeTwoNames(asText(c.lastName), SLASH, asText(c.firstName), TRACK1_TABLE, field, target, at)) return;
      target.fill(plan.paddingByte, at, at + field.length);
      const name = track1Name(asText(c.firstName), asText(c.lastName), field.length);
      return writeAscii(field, checkFits(field, fitted(field, name, 'the track-1 name')), target, at);
    }
  }
}

/** The string path of a field whose checked value depends only on its text and the business date. */
function checkedValue(plan: FieldPlan, text: string, businessDate: string): string {
  const field = plan.field;
  if (plan.step === Step.Expiry) return checkFits(field, checkExpiry(field, digitsOf(field, text), businessDate));
  if (plan.step === Step.Country) return checkFits(field, checkCountry(field, charsetApplied(field, text)));
  if (plan.step === Step.Transform) return checkFits(field, TRANSFORMS[field.transform!].apply(field, charsetApplied(field, text)));
  return checkFits(field, field.type === 'N' ? digitsOf(field, text) : charsetApplied(field, text));
}

/**
 * The one-pass path: true when the text is plain (allowed characters, single inner spaces, no
 * space at either end) and has been written uppercased at `at`; false when it needs the string
 * rules (some bytes may have been written: the caller restores the padding).
 */
function writePlain(text: string, table: Uint8Array, target: Buffer, at: number): boolean {
  const last = text.length - 1;
  let previous = SPACE;
  for (let i = 0; i <= last; i++) {
    const code = text.charCodeAt(i);
    const byte = code < 128 ? table[code]! : 0;
    if (byte === 0) return false;
    if (byte === SPACE && (previous === SPACE || i === last)) return false;
    target[at + i] = byte;
    previous = byte;
  }
  return true;
}

/**
 * The one-pass path of emboss line 1 (`FIRST LAST`) and track 1 (`LAST/FIRST`): both parts plain and
 * the whole fitting as it is — else false, and the string rules decide (shortening, transliteration).
 */
function writeTwoNames(first: string, separator: number, second: string, table: Uint8Array, field: FieldSpec, target: Buffer, at: number): boolean {
  const length = first.length + 1 + second.length;
  if (length > field.length || first.length === 0 || (second.length === 0 && separator === SPACE)) return false;
  if (!writePlain(first, table, target, at)) return false;
  target[at + first.length] = separator;
  return second.length === 0 || writePlain(second, table, target, at + first.length + 1);
}

/** The one-pass path for N fields: true when the text is all digits and has been written at `at`. */
function writeDigits(text: string, target: Buffer, at: number): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
    target[at + i] = code;
  }
  return true;
}

/** A checked value written at its alignment; every character is asserted printable ASCII. */
function writeAscii(field: FieldSpec, value: string, target: Buffer, at: number): void {
  const start = field.align === 'left' ? at : at + field.length - value.length;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) throw new Unfit(field.name, `holds a character outside printable ASCII (code ${code})`);
    target[start + i] = code;
  }
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

const SPACE = 0x20;
const SLASH = 0x2f;

/** Per charset: the uppercase byte of each allowed character; 0 for the rest (they take the string path). */
const FAST_TABLES = { name: fastTable(".,/&'-"), address: fastTable(".,/&'#-"), code: fastTable('./-') };
/** Track-1 name parts: the name set without '/', which separates surname and given names there. */
const TRACK1_TABLE = fastTable(".,&'-");

function fastTable(punctuation: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) table[c] = c;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = c;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = c - 0x20;
  for (const ch of punctuation) table[ch.charCodeAt(0)] = ch.charCodeAt(0);
  table[SPACE] = SPACE;
  return table;
}
