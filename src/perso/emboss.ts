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
const CLEAN: Record<'name' | 'address', RegExp> = {
  name: /^[A-Z0-9.,/&'-]+(?: [A-Z0-9.,/&'-]+)*$/,
  address: /^[A-Z0-9.,/&'#-]+(?: [A-Z0-9.,/&'#-]+)*$/,
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

// Names, cities and streets repeat a lot within a file: remembering recent results saves most of the
// work when rendering. Bounded: cleared when full, so memory does not grow with the file.
const MEMO_LIMIT = 20_000;
const memo: Record<'name' | 'address', Map<string, string>> = { name: new Map(), address: new Map() };

/** Names and addresses: ASCII, uppercase, allowed characters only, single spaces, trimmed. */
export function embossText(text: string, charset: 'name' | 'address'): string {
  const known = memo[charset].get(text);
  if (known !== undefined) return known;
  const upper = toAscii(text).toUpperCase();
  const result = CLEAN[charset].test(upper)
    ? upper
    : upper.replace(WHITESPACE, ' ').replace(NOT_ALLOWED[charset], '').replace(/ {2,}/g, ' ').trim();
  if (memo[charset].size >= MEMO_LIMIT) memo[charset].clear();
  memo[charset].set(text, result);
  return result;
}

/** A code: trimmed and uppercased, or undefined when it holds characters a code may not have. */
export function codeText(text: string): string | undefined {
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

/** Emboss line 1: the embossed-name override if set, else first + last name; shortened to fit `max`. */
export function embossName(firstName: string, lastName: string, embossedName: string | undefined, max: number): string | undefined {
  if (embossedName) {
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
