// Text we did not write (a bureau's reason, a stored error, a file name, a path), made inert where it
// is shown: on a terminal, in JSON read on a screen, in XML or HTML, in a command to copy into a
// shell. The CLI, the status page, the metrics and the report writer use these; masking PANs is mask.ts's.

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

/** The five characters XML and HTML give meaning to, as entities. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * A word (a path) as one shell word, for the commands we print or serve to be copied: left as it is
 * when made of plain characters, otherwise single-quoted (a space, a quote, `$`, non-ASCII letters in
 * a folder's name would otherwise split or change the command).
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
