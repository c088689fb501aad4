import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/root.js';

/** Reading the docs' markdown for the docs-against-code specs of this folder. */

export function readDoc(name: string): string {
  return readFileSync(join(PROJECT_ROOT, name), 'utf8');
}

export interface TableRow {
  /** the `## ` heading the row is under */
  section: string;
  /** the cells, trimmed; `\|` inside a cell stays one cell */
  cells: string[];
  line: number;
}

/** Every row of every table (header and separator rows left out), with its section. */
export function tableRows(markdown: string): TableRow[] {
  const rows: TableRow[] = [];
  let section = '';
  let inTable = false;
  markdown.split('\n').forEach((text, i) => {
    if (text.startsWith('## ')) section = text.slice(3).trim();
    if (!text.startsWith('|')) {
      inTable = false;
      return;
    }
    const cells = text.replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((c) => c.trim());
    if (!inTable) {
      inTable = true; // the header row
      return;
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) return;
    rows.push({ section, cells, line: i + 1 });
  });
  return rows;
}

/** The text of a cell that is one code span (`x`), else undefined. */
export function codeSpan(cell: string): string | undefined {
  return /^`([^`]+)`$/.exec(cell)?.[1];
}

/** Every code span of a text, `\|` read as `|`. */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replaceAll('\\|', '|'));
}

/** The code a line of markdown shows: the whole line inside a fenced block, else its code spans. */
export function codeOf(markdown: string): Array<{ line: number; code: string }> {
  let fenced = false;
  return markdown.split('\n').flatMap((text, i) => {
    if (text.startsWith('```')) {
      fenced = !fenced;
      return [];
    }
    return (fenced ? [text] : codeSpans(text)).map((code) => ({ line: i + 1, code }));
  });
}
