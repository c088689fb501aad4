import { scrub } from '../log.js';
import { terminalSafe, terminalSafeJson } from '../security/shown-text.js';

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

/**
 * A command's --json result on stdout: the same JSON value, with the characters a terminal acts on
 * (C1 controls, bidirectional marks, in text stored by an older version or quoted from a bureau)
 * written as \\uXXXX. `indent` 0: one line (a record per line).
 */
export function printJson(value: unknown, indent = 2): void {
  process.stdout.write(terminalSafeJson(value, indent) + '\n');
}
