import { transliterate } from 'transliteration';
import type { Charset } from './layout-types.js';

/**
 * Embossing rules of the bureau interface: transliteration (ICAO Doc 9303 for Latin letters, the
 * transliteration library for other scripts), uppercase, the allowed character sets, one space
 * between words, trimmed; name shortening (given names to initials) and the track-1 name.
 */

/** ICAO 9303 letters that do not simply lose their diacritic (after uppercasing). */
const ICAO_LATIN: Record<string, string> = {
  'Ä': 'AE', 'Ö': 'OE', 'Ü': 'UE', 'Å': 'AA', 'Æ': 'AE', 'Œ': 'OE', 'ß': 'SS', 'ẞ': 'SS', 'Ø': 'O', 'Ł': 'L',
  'Ñ': 'N', 'Þ': 'TH', 'Đ': 'D', 'Ð': 'D', 'Ĳ': 'IJ', 'Ħ': 'H', 'Ŀ': 'L', 'Ŧ': 'T', 'ı': 'I',
};
const ICAO_LETTERS = new RegExp(`[${Object.keys(ICAO_LATIN).join('')}]`, 'g');
const NON_ASCII = /[^\x00-\x7f]/;
const NON_ASCII_ALL = /[^\x00-\x7f]+/g;
const WHITESPACE = /[\s\u200b-\u200f\u2028-\u202f\u2060\ufeff]+/g;
const MARKS = /\p{M}+/gu;

const NOT_ALLOWED: Record<'name' | 'address', RegExp> = {
  name: /[^A-Z0-9 .,/&'-]+/g,
  address: /[^A-Z0-9 .,/&'#-]+/g,
};
/** Codes (product, chip profile, request type, country…) are never altered beyond uppercase. */
const CODE = /^[A-Z0-9 ./-]*$/;

/** Any text to ASCII: ICAO 9303 for Latin letters, other diacritics dropped, other scripts transliterated. */
export function toAscii(text: string): string {
  if (!NON_ASCII.test(text)) return text;
  let s = text.normalize('NFC').toUpperCase().replace(ICAO_LETTERS, (ch) => ICAO_LATIN[ch]!);
  s = s.normalize('NFD').replace(MARKS, '');
  if (NON_ASCII.test(s)) s = transliterate(s, { unknown: '', fixChineseSpacing: true });
  return s.replace(NON_ASCII_ALL, '');
}

// The fast path: most values are already plain ASCII words. One pass over the characters decides
// whether a value is clean as it is (allowed characters, single inner spaces), needs only uppercasing,
// or must go through the full rules (faster than testing with a regular expression).
const ALLOWED = 1;
const LOWER = 2;
const SPACE = 3;
const CHARSET_TABLES = { name: charTable(".,/&'-"), address: charTable(".,/&'#-"), code: charTable('./-') };

function charTable(punctuation: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let c = 48; c <= 57; c++) table[c] = ALLOWED;
  for (let c = 65; c <= 90; c++) table[c] = ALLOWED;
  for (let c = 97; c <= 122; c++) table[c] = LOWER;
  for (const ch of punctuation) table[ch.charCodeAt(0)] = ALLOWED;
  table[32] = SPACE;
  return table;
}

/** 0: needs the full rules; 1: clean; 2: clean once uppercased. */
function fastState(text: string, table: Uint8Array): 0 | 1 | 2 {
  const last = text.length - 1;
  let lower = false;
  let previous = SPACE;
  for (let i = 0; i <= last; i++) {
    const c = text.charCodeAt(i);
    if (c > 127) return 0;
    const kind = table[c]!;
    if (kind === 0) return 0;
    if (kind === SPACE && (previous === SPACE || i === last)) return 0;
    if (kind === LOWER) lower = true;
    previous = kind;
  }
  return lower ? 2 : 1;
}

// First and last name are used three times per card (emboss line, track 1, their own fields):
// the last two results per charset are kept (a string compare is cheaper than the rules).
const recent = { name: ['', '', '', ''], address: ['', '', '', ''] };

/** Names and addresses: ASCII, uppercase, allowed characters only, single spaces, trimmed. */
export function embossText(text: string, charset: 'name' | 'address'): string {
  const last = recent[charset];
  if (text === last[0]) return last[1]!;
  if (text === last[2]) return last[3]!;
  const result = embossUncached(text, charset);
  last[2] = last[0]!;
  last[3] = last[1]!;
  last[0] = text;
  last[1] = result;
  return result;
}

function embossUncached(text: string, charset: 'name' | 'address'): string {
  const state = fastState(text, CHARSET_TABLES[charset]);
  if (state === 1) return text;
  if (state === 2) return text.toUpperCase();
  const known = slowMemo[charset].get(text);
  if (known !== undefined) return known;
  const result = oneByte(toAscii(text).toUpperCase().replace(WHITESPACE, ' ').replace(NOT_ALLOWED[charset], '').replace(/ {2,}/g, ' ').trim());
  if (slowMemo[charset].size >= SLOW_MEMO_LIMIT) slowMemo[charset].clear();
  slowMemo[charset].set(text, result);
  return result;
}

/**
 * The same ASCII text in V8's one-byte representation: strings derived from accented input stay
 * two-byte, and reading those character by character when writing the record costs more than this
 * copy (done once per distinct text, thanks to the memo).
 */
function oneByte(ascii: string): string {
  return Buffer.from(ascii, 'latin1').toString('latin1');
}

// The full rules (normalization, transliteration) cost microseconds; names and cities with accents
// repeat, so recent outcomes are remembered. Bounded: cleared when full.
const SLOW_MEMO_LIMIT = 10_000;
const slowMemo = { name: new Map<string, string>(), address: new Map<string, string>() };

/** A code: trimmed and uppercased, or undefined when it holds characters a code may not have. */
export function codeText(text: string): string | undefined {
  const state = fastState(text, CHARSET_TABLES.code);
  if (state === 1) return text;
  if (state === 2) return text.toUpperCase();
  const upper = text.trim().toUpperCase();
  return CODE.test(upper) ? upper : undefined;
}

/** Applies a field's charset; undefined means the value cannot be used (a code with foreign characters). */
export function applyCharset(text: string, charset: Charset): string | undefined {
  return charset === 'code' ? codeText(text) : embossText(text, charset);
}

/**
 * Shortens given names to initials, last given name first, until `compose` fits in `max`
 * (`JOHN JACOB SMITH` → `JOHN J SMITH` → `J J SMITH`); undefined when even all initials do not fit.
 */
export function fitName(given: string[], surname: string, max: number, compose: (given: string[], surname: string) => string): string | undefined {
  const names = [...given];
  let text = compose(names, surname);
  for (let i = names.length - 1; i >= 0 && text.length > max; i--) {
    names[i] = names[i]!.charAt(0);
    text = compose(names, surname);
  }
  return text.length <= max ? text : undefined;
}

const words = (text: string) => (text ? text.split(' ') : []);
const embossLine = (given: string[], surname: string) => [...given, surname].filter(Boolean).join(' ');
const track1 = (given: string[], surname: string) => `${surname}/${given.join(' ')}`;

/**
 * Emboss line 1: the embossed-name override if set, else first + last name; shortened to fit `max`.
 * An override of blanks is none (a card system writing spaces for "no override" must not make the card Invalid).
 */
export function embossName(firstName: string, lastName: string, embossedName: string | undefined, max: number): string | undefined {
  if (embossedName?.trim()) {
    const override = embossText(embossedName, 'name');
    if (override.length <= max) return override;
    const all = words(override);
    return fitName(all.slice(0, -1), all[all.length - 1]!, max, embossLine);
  }
  const given = embossText(firstName, 'name');
  const surname = embossText(lastName, 'name');
  const whole = given && surname ? `${given} ${surname}` : given || surname;
  if (whole.length <= max) return whole;
  return fitName(words(given), surname, max, embossLine);
}

/** Track-1 name `SURNAME/GIVEN NAMES` (ISO/IEC 7813), '/' removed from the parts; shortened to fit `max`. */
export function track1Name(firstName: string, lastName: string, max: number): string | undefined {
  const surname = track1Part(lastName);
  if (!surname) return '';
  const given = track1Part(firstName);
  const whole = `${surname}/${given}`;
  if (whole.length <= max) return whole;
  return fitName(words(given), surname, max, track1);
}

/** '/' separates surname and given names on track 1, so it may not appear inside either. */
function track1Part(text: string): string {
  const part = embossText(text, 'name');
  return part.includes('/') ? part.replace(/\//g, ' ').replace(/ {2,}/g, ' ').trim() : part;
}
