import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBureauSettings } from '../../src/sandbox/settings.js';

// bureau.yaml is read as the config is (src/config/text-file.ts): one reader for what an operator writes.
describe('sandbox bureau.yaml is read as the config is', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'bx-sb-settings-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string | Buffer) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads YAML 1.2 core under a %YAML 1.1 directive: seed 010 is 10, not 8', () => {
    assert.equal(loadBureauSettings(write('v11.yaml', '%YAML 1.1\n---\nseed: 010\n')).seed, 10);
  });

  it('refuses a list, bytes that are not UTF-8 and an unknown tag, naming the file', () => {
    const list = write('list.yaml', '- seed: 1\n');
    assert.throws(() => loadBureauSettings(list), (err: Error) => err.message.includes(list) && /a list/.test(err.message));
    const latin1 = write('latin1.yaml', Buffer.from('seed: 1 # caf\xe9\n', 'latin1'));
    assert.throws(() => loadBureauSettings(latin1), (err: Error) => err.message.includes(latin1) && /not UTF-8/.test(err.message));
    const tagged = write('tag.yaml', 'seed: !!binary aGVsbG8=\n');
    assert.throws(() => loadBureauSettings(tagged), (err: Error) => err.message.includes(tagged));
  });

  it('still takes defaults when the file is absent', () => {
    assert.equal(loadBureauSettings(join(dir, 'absent.yaml')).rejectRate, 0.05);
  });
});
