import { scrub } from '../log.js';

/**
 * A cell as a terminal may show it: C0 and C1 control characters and DEL as U+FFFD, one for one
 * (ESC and CSI start the escape sequences that retitle, clear or rewrite a screen), and the
 * bidirectional overrides and isolates (U+202A–202E, U+2066–2069) too, which reorder what is shown.
 * A table quotes text it did not write (a bureau's quarantine reason, a stored error).
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, '\ufffd');
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
