import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCard } from '../helpers/cards.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

/** What `contracts import` prints about bad lines quotes the input: never a PAN in clear. */
describe('CLI contracts import: error messages carry no PAN', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'bx-cli-import-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n`);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('masks a PAN quoted from any field, in stderr and in the log', async () => {
    const lines = [
      { ...makeCard(1), productionStatus: '4111111111111111' },
      { ...makeCard(2), productionStatus: '4111 1111 1111 1111' },
      { ...makeCard(3), pan: '5500-0000-0000-0004x' },
      { ...makeCard(4) },
    ].map((l) => JSON.stringify(l));
    const file = join(dir, 'cards.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    assert.equal((await runCli(['--config', config, 'migrate'], env)).code, 0);
    const r = await runCli(['--config', config, 'contracts', 'import', file], env);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /1 inserted, 0 updated, 3 skipped/);
    assert.match(r.stderr, /line 1: field productionStatus: unknown status "411111\*{6}1111"/);
    assert.match(r.stderr, /line 2: field productionStatus: unknown status "411111\*{6}1111"/);
    const all = (r.stdout + r.stderr).replace(/[ -]/g, '');
    for (const pan of ['4111111111111111', '5500000000000004', makeCard(4).pan]) assert.ok(!all.includes(pan), `PAN ${pan.slice(0, 6)}… printed`);
  });

  it('the file name is masked in the summary and the skipped lines too, when it holds a PAN', async () => {
    const file = join(dir, 'export-4111111111111111.jsonl');
    writeFileSync(file, [JSON.stringify(makeCard(5)), 'not json'].join('\n') + '\n');
    assert.equal((await runCli(['--config', config, 'migrate'], env)).code, 0);
    const r = await runCli(['--config', config, 'contracts', 'import', file], env);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /export-411111\*{6}1111\.jsonl: 1 inserted, 0 updated, 1 skipped/);
    assert.match(r.stderr, /export-411111\*{6}1111\.jsonl: line 2: not valid JSON/);
    assert.ok(!(r.stdout + r.stderr).includes('4111111111111111'));
  });

  it('the error printer masks a PAN in any error message (here, the name of a missing file)', async () => {
    const r = await runCli(['--config', config, 'contracts', 'import', join(dir, 'cards-4111111111111111.jsonl')], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cards-411111\*{6}1111\.jsonl/);
    assert.ok(!(r.stdout + r.stderr).includes('4111111111111111'));
  });
});
