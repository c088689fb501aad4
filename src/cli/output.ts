/** Prints rows as an aligned text table (the CLI's human output). */
export function printTable(rows: Array<Record<string, string | number>>, out: NodeJS.WritableStream = process.stdout): void {
  if (!rows.length) {
    out.write('(none)\n');
    return;
  }
  const keys = Object.keys(rows[0]!);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n';
  out.write(line(keys));
  for (const r of rows) out.write(line(keys.map((k) => String(r[k] ?? ''))));
}
