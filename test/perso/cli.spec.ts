import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG_FILE, PROJECT_ROOT } from '../../src/config/load.js';
import { runCli as runCliWith } from '../helpers/cli.js';

const runCli = (args: string[]) => runCliWith(['--config', DEFAULT_CONFIG_FILE, ...args]);

const GOLDEN = join(PROJECT_ROOT, 'test', 'perso', 'golden', 'perso-v1-golden.dat');
const CLEAR_PANS = readFileSync(GOLDEN, 'latin1').split('\n').filter((l) => l.startsWith('D')).map((l) => l.slice(35, 54).trim());

describe('cli: perso explain', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'bx-perso-cli-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints every record field by field with positions, never a full PAN', async () => {
    const result = await runCli(['perso', 'explain', GOLDEN]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^header record \(line 1\)/);
    assert.match(result.stdout, /detail record 7 \(line 8\)/);
    assert.match(result.stdout, /trailer record \(line 9\)/);
    assert.match(result.stdout, /\n344 +30 +city +AN +\[DUESSELDORF +\]\n/);
    for (const pan of CLEAR_PANS) assert.ok(!result.stdout.includes(pan), `full PAN ${pan.slice(0, 6)}… printed`);
    assert.match(result.stdout, /\n36 +19 +pan +AN +\[411111\*{6}0013\]\n/);
  });

  it('shows only the detail record the bureau quotes with --record', async () => {
    const result = await runCli(['perso', 'explain', GOLDEN, '--record', '3']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.match(/\(line \d+\)/g)!.length, 1);
    assert.match(result.stdout, /^detail record 3 \(line 4\)\n/);
    assert.match(result.stdout, /\[J J J SCHMIDTINGTON-SMYTHE/);
  });

  it('reports what a strict read refuses, and exits 2 for a record that is not there', async () => {
    const lines = readFileSync(GOLDEN, 'latin1').split('\n');
    lines[1] = lines[1]!.slice(0, 420) + 'X' + lines[1]!.slice(421);
    const broken = join(dir, 'broken.dat');
    writeFileSync(broken, lines.join('\n'), 'latin1');
    const shown = await runCli(['perso', 'explain', broken, '--line', '2', '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(JSON.parse(shown.stdout).problem, /record 2, field filler: filler must be spaces/);
    const missing = await runCli(['perso', 'explain', GOLDEN, '--record', '8']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no detail record 8/);
  });

  it('refuses a file that is not a clear perso file', async () => {
    const encrypted = join(dir, 'x.dat.pgp');
    writeFileSync(encrypted, Buffer.from([0x85, 0x02, 0x0c, 0x03, 0xff, 0x10, 0x0a, 0x41]));
    const result = await runCli(['perso', 'explain', encrypted]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /does not look like a clear perso-v1 file/);
  });
});
