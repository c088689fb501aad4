import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCard } from '../helpers/cards.js';

/** Import files for one spec, in a temporary folder of their own (f1.csv, f2.jsonl, …), removed by `remove`. */
export function importFiles(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  let count = 0;
  return {
    file(ext: string, content: string | Buffer): string {
      const path = join(dir, `f${++count}.${ext}`);
      writeFileSync(path, content);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The import's field names, in makeCard's order: a CSV header. */
export const COLS = Object.keys(makeCard(0));
/** A card as a CSV row of COLS, every field quoted. */
export const csvRow = (card: object) => COLS.map((k) => `"${String((card as Record<string, unknown>)[k] ?? '').replace(/"/g, '""')}"`).join(',');
/** Cards as JSON Lines. */
export const jsonl = (cards: object[]) => cards.map((c) => JSON.stringify(c)).join('\n');
