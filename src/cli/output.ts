import { scrub } from '../log.js';

/**
 * What a terminal acts on beyond C0 controls: DEL and the C1 controls (the CSI U+009B starts escape
 * sequences that retitle, clear or rewrite a screen), and the characters that reorder or break what is
 * shown (bidirectional marks, overrides and isolates, the line and paragraph separators).
 */
const ACTS_ON_TERMINAL = String.raw`\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069`;
const TERMINAL_UNSAFE = new RegExp(`[\\u0000-\\u001f${ACTS_ON_TERMINAL}]`, 'g');
const JSON_UNSAFE = new RegExp(`[${ACTS_ON_TERMINAL}]`, 'g');

/**
 * Text as a terminal may show it, for text we did not write (a bureau's reason, a stored error, a
 * file name): a line break or tab as a space, so a row stays one line, and every other control or
 * reordering character as U+FFFD, one for one, as `perso explain` shows them.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\r\n\t]/g, ' ').replace(TERMINAL_UNSAFE, '\ufffd');
}

/**
 * JSON whose values are kept exactly, with the characters JSON.stringify leaves raw that a terminal
 * acts on written as \\uXXXX: the same JSON value, inert on a screen.
 */
export function terminalSafeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(JSON_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Every string of a document through the log scrubber (PANs masked, known secrets cut), as the status
 * page serves its JSON: the last line of defence for stored text shown again (an error or reason
 * written by an older version, or by a path that forgot to scrub). For documents without card or
 * contract numbers of their own (a contract number of 15 digits can pass the Luhn check).
 */
export function scrubbed<T>(document: T): T {
  return JSON.parse(JSON.stringify(document, (_key, value: unknown) => (typeof value === 'string' ? scrub(value) : value))) as T;
}

/** Prints rows as an aligned text table (the CLI's human output); cells made terminalSafe. */
export function printTable(rows: Array<Record<string, string | number>>, out: NodeJS.WritableStream = process.stdout): void {
  if (!rows.length) {
    out.write('(none)\n');
    return;
  }
  const keys = Object.keys(rows[0]!);
  const cells = rows.map((r) => keys.map((k) => terminalSafe(String(r[k] ?? ''))));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  out.write(line(keys));
  for (const row of cells) out.write(line(row));
}
