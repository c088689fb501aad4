import { strict as assert } from 'node:assert';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCard } from '../helpers/cards.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

/**
 * `contracts import` of a file no card system should send, measured in the real CLI process: a CSV
 * row of 200 MB (no line break in it) is skipped naming its line, the rows around it are imported,
 * and the process's peak memory stays that of a small file's import.
 */
describe('contracts import: an oversized CSV row is never held in memory', function () {
  this.timeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), 'bx-import-limits-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n`);
  // loaded into the CLI's own process: its peak RSS (KiB), written as it exits
  const preload = join(dir, 'peak-rss.cjs');
  writeFileSync(preload, "process.on('exit', () => require('fs').writeFileSync(process.env.BX_TEST_RSS_FILE, String(process.resourceUsage().maxRSS)));\n");
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  after(() => rmSync(dir, { recursive: true, force: true }));
  let baselineMiB = 0;

  const COLS = Object.keys(makeCard(0));
  const row = (n: number) => COLS.map((k) => `"${String((makeCard(n) as unknown as Record<string, unknown>)[k] ?? '')}"`).join(',');

  /** Runs the import; its exit code, output and peak RSS in MiB. */
  async function importMeasured(file: string) {
    const rssFile = join(dir, 'rss');
    const r = await runCli(['--config', config, 'contracts', 'import', file], { ...env, NODE_OPTIONS: `--require ${preload}`, BX_TEST_RSS_FILE: rssFile }, 240_000);
    return { ...r, peakMiB: Number(readFileSync(rssFile, 'utf8')) / 1024 };
  }

  it('a 200 MB row without a line break: skipped naming line 3, lines 2 and 4 imported, peak memory as for a small file', async () => {
    assert.equal((await runCli(['--config', config, 'migrate'], env)).code, 0);
    const small = join(dir, 'small.csv');
    writeFileSync(small, [COLS.join(','), row(1), row(2)].join('\n') + '\n');
    const baseline = await importMeasured(small);
    assert.equal(baseline.code, 0, baseline.stderr);
    baselineMiB = baseline.peakMiB;

    const big = join(dir, 'big.csv');
    const fd = openSync(big, 'w');
    writeSync(fd, [COLS.join(','), row(3), ''].join('\n'));
    const megabyte = Buffer.alloc(1 << 20, 'x,"y"');
    for (let i = 0; i < 200; i++) writeSync(fd, megabyte);
    writeSync(fd, '\n' + row(4) + '\n');
    closeSync(fd);
    const r = await importMeasured(big);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /2 inserted, 0 updated, 1 skipped/);
    assert.match(r.stderr, /big\.csv: line 3: longer than 65536 bytes: not a card \(skipped unread\)/);
    const list = await runCli(['--config', config, 'contracts', 'list', '--json'], env);
    assert.deepEqual(list.stdout.trim().split('\n').map((l) => JSON.parse(l).contract), ['1001', '1002', '1003', '1004']);
    assert.ok(r.peakMiB < baseline.peakMiB + 48, `peak RSS ${r.peakMiB.toFixed(0)} MiB, a small file's ${baseline.peakMiB.toFixed(0)} MiB`);
  });

  it('a 200 MB quoted field holding line breaks: skipped naming the lines it spans, the row after it imported on its own line', async () => {
    const big = join(dir, 'quoted.csv');
    const fd = openSync(big, 'w');
    writeSync(fd, [COLS.join(','), row(5), '"'].join('\n'));
    const megabyte = Buffer.alloc(1 << 20, 'a,\r\nc""d'); // 8 bytes: whole CRLFs in every megabyte
    for (let i = 0; i < 200; i++) writeSync(fd, megabyte);
    writeSync(fd, '"\n' + row(6).replace('"6 Main Street"', '"6 Main Street\nBuilding B"') + '\n' + row(7) + '\n');
    closeSync(fd);
    const breaks = ((1 << 20) / 8) * 200;
    const r = await importMeasured(big);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /3 inserted, 0 updated, 1 skipped/);
    const lines = `lines 3–${3 + breaks}`;
    assert.ok(r.stderr.includes(`quoted.csv: line 3: ${lines}: longer than 65536 bytes`), r.stderr);
    assert.ok(baselineMiB && r.peakMiB < baselineMiB + 48, `peak RSS ${r.peakMiB.toFixed(0)} MiB, a small file's ${baselineMiB.toFixed(0)} MiB`);
  });
});
