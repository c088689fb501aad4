import { InputError } from '../errors.js';
import { maskPansInText } from '../security/mask.js';

/**
 * Typed access to the child elements of one parsed XML element, each check failing with an
 * InputError that names the element path (`BureauReport/Shipments/Shipment[3]/ShipDate`).
 * This is where report text enters the program: every free text is returned with PAN-like numbers
 * masked (it is stored, logged and printed from here on), and only own properties are read.
 */
export interface Fields {
  readonly path: string;
  text(name: string, maxLength: number, required: boolean, pattern?: RegExp): string;
  digits(name: string, maxLength: number): string;
  integer(name: string, required: boolean): number | null;
  date(name: string, required: boolean): string | null;
  dateTime(name: string): string;
  /** fails on any child element not read so far */
  rejectUnknown(): void;
  fail(name: string, message: string): never;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * C0 controls and DEL are refused (the report is quarantined, naming the field). The C1 controls
 * (U+009B is a terminal's CSI, U+0085 a line break to some readers), the line and paragraph
 * separators and the bidirectional controls (a reason or tracking number that reads otherwise than
 * it is stored) are XML, and a mis-encoded Windows-1252 text is full of C1 (’ “ ” – € became U+0092
 * …): report text is stored and shown again (`contracts show`, the status page, logs), so each of
 * those is stored as '?', and the record still applies rather than one stray character setting the
 * whole report aside. See `cleanText` for a PAN they would split.
 */
const C0 = /[\x00-\x1f\x7f]/;
const SHOWN_AS_QUESTION_MARK = /[\x80-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const HAS_SHOWN_AS_QUESTION_MARK = new RegExp(SHOWN_AS_QUESTION_MARK.source);

/**
 * The text as stored: the characters above as '?', PANs masked. Most of them are invisible, so a PAN
 * split by them reads whole: when the text without them holds a PAN, it is stored without them, masked.
 */
function cleanText(value: string): string {
  const shown = maskPansInText(value.replace(SHOWN_AS_QUESTION_MARK, '?'));
  if (!HAS_SHOWN_AS_QUESTION_MARK.test(value)) return shown;
  const stripped = value.replace(SHOWN_AS_QUESTION_MARK, '');
  const masked = maskPansInText(stripped);
  return masked === stripped ? shown : masked;
}


/** A value quoted in an error message: short, printable, no PAN (it comes from a hostile file and ends up in logs and the database). */
function quote(value: string): string {
  // masked before the unprintable characters become '?': a PAN grouped by tabs or no-break spaces is a PAN to the mask, one grouped by '?' is not
  const clean = maskPansInText(value).replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(clean.length > 40 ? clean.slice(0, 40) + '…' : clean);
}

export function isCalendarDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

export function readFields(element: unknown, path: string): Fields {
  const obj: Record<string, unknown> = element === '' || element === undefined ? {} : (element as Record<string, unknown>);
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new InputError(`${path}: expected child elements`);
  if ('#text' in obj) throw new InputError(`${path}: unexpected text ${quote(String(obj['#text']))} beside the child elements`);
  const read = new Set<string>();
  const fail = (name: string, message: string): never => {
    throw new InputError(`${path}/${name}: ${message}`);
  };
  const value = (name: string, required: boolean): string => {
    read.add(name);
    const v = Object.hasOwn(obj, name) ? obj[name] : undefined;
    if (v === undefined) return required ? fail(name, 'missing') : '';
    if (Array.isArray(v)) fail(name, 'appears more than once');
    if (typeof v !== 'string') fail(name, 'must be text, not nested elements');
    if (required && v === '') fail(name, 'is empty');
    return v as string;
  };
  return {
    path,
    fail,
    text(name, maxLength, required, pattern) {
      const v = value(name, required);
      if (v.length > maxLength) fail(name, `longer than ${maxLength} characters`);
      if (C0.test(v)) fail(name, 'contains control characters');
      if (v && pattern && !pattern.test(v)) fail(name, `${quote(v)} has characters that are not allowed`);
      return cleanText(v);
    },
    digits(name, maxLength) {
      const v = value(name, true);
      if (!/^\d+$/.test(v) || v.length > maxLength) fail(name, `${quote(v)} is not an identifier of at most ${maxLength} digits`);
      return v;
    },
    integer(name, required) {
      const v = value(name, required);
      if (v === '') return null;
      if (!/^\d{1,9}$/.test(v)) fail(name, `${quote(v)} is not a whole number`);
      return Number(v);
    },
    date(name, required) {
      const v = value(name, required);
      if (v === '') return null;
      if (!isCalendarDate(v)) fail(name, `${quote(v)} is not a date YYYY-MM-DD`);
      return v;
    },
    dateTime(name) {
      const v = value(name, true);
      const m = DATE_TIME.exec(v);
      if (!m || !isCalendarDate(m[1]!)) fail(name, `${quote(v)} is not a date-time like 2026-11-26T06:15:00Z`);
      return v;
    },
    rejectUnknown() {
      const unknown = Object.keys(obj).filter((k) => !read.has(k));
      if (unknown.length) fail(unknown[0]!, 'unknown element');
    },
  };
}
