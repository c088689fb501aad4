import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/root.js';
import { loadLayoutFile } from '../../src/perso/layout.js';
import { recordSpecs, type Layout } from '../../src/perso/layout-types.js';
import { readDoc } from './doc-tables.js';

/**
 * docs/bureau-interface.md against the layouts the program writes with (config/layouts/*.yaml,
 * read by the layout loader): each record's fields at the positions and lengths the document
 * gives, its type code, the record length and the file name.
 */

const layout = (name: string) => loadLayoutFile(join(PROJECT_ROOT, 'config', 'layouts', `${name}.yaml`));
const doc = readDoc('docs/bureau-interface.md');
const section = (title: string) => doc.slice(doc.indexOf(`\n## ${title}`), doc.indexOf('\n## ', doc.indexOf(`\n## ${title}`) + 4));

/** Each record of the layout as the doc writes it: its code, and its fields as first–last positions. */
function recordsOf(l: Layout): Array<{ code: string; ranges: string[] }> {
  return recordSpecs(l).map((r) => ({ code: r.code, ranges: r.fields.map((f) => `${f.position}–${f.position + f.length - 1}`) }));
}

/** `{issuer}_PERSO_{date}_{seq}.dat.pgp` as the doc writes it: `<ISSUER>_PERSO_<YYYYMMDD>_<NNNNNN>.dat.pgp`. */
const docName = (pattern: string) => pattern.replace('{issuer}', '<ISSUER>').replace('{date}', '<YYYYMMDD>').replace('{seq}', '<NNNNNN>');

describe('docs/bureau-interface.md against the shipped layouts', () => {
  it('perso-v1 (section 1): the tables of the header, detail and trailer records, their length and the file name', () => {
    const text = section('1. What we send');
    const l = layout('perso-v1');
    // `Header \`H\``, then its table: pos | len | field | type
    const tables: Array<{ code: string; ranges: string[] }> = [];
    for (const line of text.split('\n')) {
      const record = /^(?:Header|Detail|Trailer) `([^`]+)`/.exec(line);
      if (record) tables.push({ code: record[1]!, ranges: [] });
      const row = /^\| (\d+) \| (\d+) \|/.exec(line);
      if (row) tables.at(-1)!.ranges.push(`${row[1]}–${Number(row[1]) + Number(row[2]) - 1}`);
    }
    assert.deepEqual(tables, recordsOf(l));
    assert.match(text, new RegExp(`${l.recordLength} bytes each`));
    assert.ok(text.includes(`\`${docName(l.fileNamePattern!)}\``), `the name ${docName(l.fileNamePattern!)}`);
  });

  it('emb-v1 (section 4): the fields of each record, their length and the file name', () => {
    const text = section('4. A second bureau');
    const l = layout('emb-v1');
    // a paragraph per record: `Header \`01\`: 1–2 \`01\` · 3–12 issuer code (AN 10) · …`
    const records = text.split('\n\n').map((p) => /^(?:Header|Detail|Trailer) `(\d+)`[^:]*: ([\s\S]*)/.exec(p)).filter((m) => m !== null).map((m) => ({
      code: m[1]!,
      ranges: m[2]!.replace(/\s+/g, ' ').split(' · ').map((part) => {
        const [, first, end] = /^(\d+)(?:–(\d+))?/.exec(part.trim())!;
        return `${first}–${end ?? first}`;
      }),
    }));
    assert.deepEqual(records, recordsOf(l));
    assert.match(text, new RegExp(`\\*\\*Records\\.\\*\\* ${l.recordLength} bytes`));
    assert.ok(text.includes(`\`${docName(l.fileNamePattern!)}\``), `the name ${docName(l.fileNamePattern!)}`);
  });
});
