/** PAN masking and detection, shared by logs, CLI output and error messages. */

/** First 6 and last 4 digits, the rest as '*': 411111******1111. Short values are fully masked. */
export function maskPan(pan: string): string {
  const digits = pan.replace(/\D/g, '');
  if (digits.length < 12) return '*'.repeat(digits.length || 4);
  return digits.slice(0, 6) + '*'.repeat(digits.length - 10) + digits.slice(-4);
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (d < 0 || d > 9) return false;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

// 12–19 digits, optionally grouped by up to two spaces, tabs or dashes (a PAN pasted from a form or
// a spreadsheet), not inside a longer digit run. Not by underscores, slashes or dots: our own file
// names join a date and a sequence with `_` (20261126_000001, 14 digits), and an IPv4 address in an
// error message has 12 digits. A space may be a no-break one (U+00A0, U+2007, U+202F: what
// spreadsheets and locales group digits by), and a tab may be written `\t`: the log scrubber and
// messages quoting a value with JSON.stringify see the JSON text, where a tab is that escape.
const PAN_SEPARATOR = String.raw`(?:[ \t\u00a0\u2007\u202f-]|\\t)`;
const PAN_LIKE = new RegExp(String.raw`(?<!\d)\d(?:${PAN_SEPARATOR}{0,2}\d){11,18}(?!\d)`, 'g');

/** Whether a digit string would be treated as a PAN by the log scrubber. */
export function looksLikePan(digits: string): boolean {
  return digits.length >= 12 && digits.length <= 19 && (digits.length >= 16 || luhnValid(digits));
}

/**
 * More digits in a row than a PAN has: a PAN written against other digits (a fixed-width record's PAN
 * field followed by its expiry, an error quoting a record) stands inside such a run, which PAN_LIKE,
 * whose number must end where the digits do, does not match. Nothing of ours writes 20 digits in a
 * row (times are milliseconds, 13 digits; sizes and ids fewer), so the whole run is masked.
 */
const LONG_DIGIT_RUN = /\d{20,}/g;

/**
 * Replaces every PAN-looking number (Luhn-valid 12–19 digits, or any 16–19 digits, grouped or not,
 * in any decimal digits) in free text, and every run of 20 or more digits, which may hold one: first
 * 6 and last 4 kept.
 */
export function maskPansInText(text: string): string {
  const masked = maskAsciiPans(text);
  if (!OTHER_DIGIT.test(masked)) return masked;
  // a PAN written in other decimal digits (fullwidth ４１１１…, Arabic-Indic, mathematical) is one a
  // person can read: such digits are given as ASCII ones only when they form a PAN, other text is kept
  const folded = masked.replace(OTHER_DIGITS, (digit) => String(digitValue(digit)));
  const foldedMasked = maskAsciiPans(folded);
  return foldedMasked === folded ? masked : foldedMasked;
}

function maskAsciiPans(text: string): string {
  return text
    .replace(PAN_LIKE, (match) => {
      const digits = match.replace(/\D/g, '');
      return looksLikePan(digits) ? maskPan(digits) : match;
    })
    .replace(LONG_DIGIT_RUN, maskPan);
}

/**
 * `text` with each PAN that maskPansInText would mask starred in place: every digit but the PAN's
 * first 6 and last 4 as '*', separators and length kept. For text cut into fields afterwards: a
 * fixed-width record read with a layout that does not fit it can split a PAN over two fields, each
 * piece too short to look like one. Other decimal digits count where they are one code unit
 * (fullwidth, Arabic-Indic), so positions do not move.
 */
export function maskPansInPlace(text: string): string {
  const folded = text.replace(OTHER_DIGITS, (digit) => (digit.length === 1 ? String(digitValue(digit)) : digit));
  const starred = [...text.split('')];
  const star = (start: number, end: number) => {
    const at: number[] = [];
    for (let i = start; i < end; i++) if (folded[i]! >= '0' && folded[i]! <= '9') at.push(i);
    for (const i of at.slice(6, -4)) starred[i] = '*';
  };
  for (const m of folded.matchAll(PAN_LIKE)) if (looksLikePan(m[0].replace(/\D/g, ''))) star(m.index, m.index + m[0].length);
  for (const m of folded.matchAll(LONG_DIGIT_RUN)) star(m.index, m.index + m[0].length);
  return starred.join('');
}

const OTHER_DIGIT = /(?![0-9])\p{Nd}/u;
const OTHER_DIGITS = /(?![0-9])\p{Nd}/gu;
const DIGIT = /^\p{Nd}$/u;

/**
 * The value of a decimal digit other than ASCII: Unicode puts those in runs of whole sets 0–9 in
 * order (its stability policy), so the value is the distance from the start of the run, modulo 10.
 */
function digitValue(digit: string): number {
  const code = digit.codePointAt(0)!;
  let start = code;
  while (DIGIT.test(String.fromCodePoint(start - 1))) start--;
  return (code - start) % 10;
}
