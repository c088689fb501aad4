import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/root.js';
import { codeSpans, readDoc, tableRows } from './doc-tables.js';

/** README.md's "Layout of the code" against the folders of src/. */
describe('README.md against the source tree', () => {
  it('names every folder of src/ in "Layout of the code", and no other', () => {
    const folders = readdirSync(join(PROJECT_ROOT, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `src/${e.name}/`);
    const named = tableRows(readDoc('README.md')).filter((r) => r.section === 'Layout of the code').flatMap((r) => codeSpans(r.cells[0]!)).filter((n) => n.startsWith('src/'));
    assert.deepEqual(folders.filter((f) => !named.includes(f)), [], 'folders of src/ the README does not name');
    assert.deepEqual(named.filter((n) => n.endsWith('/') && !folders.includes(n)), [], 'folders the README names that src/ does not have');
  });
});
