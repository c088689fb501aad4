import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

describe('perso explain: what is not a file, and record numbers out of range', function () {
  this.timeout(60_000);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  const golden = join(PROJECT_ROOT, 'test', 'perso', 'golden', 'perso-v1-golden.dat');
  let dir: string;
  let config: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bx-explain-'));
    config = join(dir, 'config.yaml');
    writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a folder or a fifo is a usage error naming it (a fifo no writer opens waited for ever; a folder said EISDIR, naming nothing)', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    const fifo = join(dir, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    for (const path of [folder, fifo, join(dir, 'missing.dat')]) {
      const r = await runCli(['--config', config, 'perso', 'explain', path], env, 30_000);
      assert.equal(r.code, 2, `${path}: exit ${r.code} ${r.stderr}`);
      assert.equal(r.stderr, `bureau-exchange: ${path}: no such file\n`);
    }
  });

  it('--record 0 names the range whole: no bound masked as a card number', async () => {
    const r = await runCli(['--config', config, 'perso', 'explain', golden, '--record', '0'], env);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'bureau-exchange: --record: a whole number from 1 to 9,007,199,254,740,991, not "0"\n');
  });
});
