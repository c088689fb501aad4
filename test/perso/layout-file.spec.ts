import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_LAYOUTS_DIR } from '../../src/perso/index.js';
import { loadLayoutFile } from '../../src/perso/layout.js';

// A layout is read as the config is (src/config/text-file.ts): YAML 1.2 core schema whatever the
// file's directive, warnings as errors, UTF-8 only, bounded in size.
describe('perso: a layout file is read as the config is', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bx-layout-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const original = readFileSync(join(DEFAULT_LAYOUTS_DIR, 'perso-v1.yaml'), 'utf8');
  const write = (name: string, text: string | Buffer) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('under %YAML 1.1, position 010 is still 10 (not octal 8), and the layout is the same as without it', () => {
    const text = '%YAML 1.1\n---\n' + original.replace('position: 10, length: 8,   type: AN,   source: file.issuerCode', 'position: 010, length: 8,   type: AN,   source: file.issuerCode');
    assert.notEqual(text, '%YAML 1.1\n---\n' + original, 'the edit took');
    const edited = loadLayoutFile(write('v11.yaml', text));
    const plain = loadLayoutFile(join(DEFAULT_LAYOUTS_DIR, 'perso-v1.yaml'));
    assert.deepEqual({ ...edited, name: undefined, file: undefined }, { ...plain, name: undefined, file: undefined });
  });

  it('refuses an unknown tag, bytes that are not UTF-8, and a file of megabytes, naming the layout file', () => {
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ['tag.yaml', original.replace('value: PERSOREQ', 'value: !!js/function PERSOREQ'), /layout file .*tag\.yaml is not valid YAML/],
      ['latin1.yaml', Buffer.concat([Buffer.from(original.slice(0, 200)), Buffer.from([0xe9, 0x0a])]), /layout file .*latin1\.yaml is not UTF-8 text: line \d+/],
      ['huge.yaml', original + '#'.repeat(2 * 1024 * 1024), /layout file .*huge\.yaml is larger than 1 MiB/],
    ];
    for (const [name, text, message] of cases) {
      assert.throws(() => loadLayoutFile(write(name, text)), (err: unknown) => err instanceof ConfigError && message.test((err as Error).message), name);
    }
  });
});
