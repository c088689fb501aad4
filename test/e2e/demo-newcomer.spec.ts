import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { UsageError } from '../../src/errors.js';
import { runDemo } from '../../src/sandbox/demo.js';
import { formatDemoSummary } from '../../src/sandbox/demo-summary.js';
import { runCli } from '../helpers/cli.js';
import { requireGpg } from '../helpers/gpg.js';

/** What a newcomer types first: hostile option values, and a home folder whose name is not plain. */
describe('demo as a newcomer runs it', function () {
  this.timeout(180_000);
  let base: string;
  before(() => (base = mkdtempSync(join(tmpdir(), 'bx-demo-newcomer-'))));
  after(() => rmSync(base, { recursive: true, force: true }));

  /** the temp folders the demo made meanwhile (it makes one when no --dir is given) */
  const demoFolders = () => readdirSync(tmpdir()).filter((n) => n.startsWith('bureau-exchange-demo-')).sort();

  for (const cards of ['99999999999999999999', '1000001']) {
    it(`--cards ${cards}: exit 2 before anything is made (it wrote contracts until the disk was full)`, async function () {
      const before = demoFolders();
      const result = await runCli(['demo', '--cards', cards], {}, 30_000);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--cards must be a whole number of at least 1 and at most 1,000,000/);
      assert.doesNotMatch(result.stderr, /\[1\/6\]/);
      assert.deepEqual(demoFolders(), before);
    });
  }

  for (const seed of ['99999999999999999999', '9007199254740993', '-1234567890123456']) {
    it(`--seed ${seed}: exit 2 naming --seed, no digits masked as a PAN (it blamed bureau.yaml)`, async function () {
      const result = await runCli(['demo', '--seed', seed, '--dir', join(base, `seed-${seed}`)], {}, 30_000);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--seed must be a whole number of at most 15 digits/);
      assert.doesNotMatch(result.stderr, /bureau\.yaml|\*\*\*/);
      assert.equal(existsSync(join(base, `seed-${seed}`)), false, 'nothing made');
    });
  }

  it('sandbox serve --seed of 20 digits: exit 2 naming --seed', async function () {
    const result = await runCli(['sandbox', 'serve', '--config', join(base, 'none.yaml'), '--seed', '99999999999999999999'], {}, 30_000);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--seed must be a whole number of at most 15 digits/);
  });

  describe('a folder that cannot be made: exit 2 naming what is in the way, never a raw ENOENT/ENOTDIR', function () {
    let file: string;
    before(() => writeFileSync((file = join(base, 'a-file')), 'not a folder\n'));

    it('demo --dir FILE', async function () {
      const result = await runCli(['demo', '--cards', '5', '--dir', file], {}, 30_000);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--dir .*a-file is a file: the demo needs an empty or new folder/);
    });

    it('demo --dir FILE/sub and sandbox init FILE/sub', async function () {
      for (const args of [['demo', '--cards', '5', '--dir', join(file, 'sub')], ['sandbox', 'init', join(file, 'sub')]]) {
        const result = await runCli(args, {}, 30_000);
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.match(result.stderr, /cannot make the sandbox in .*a-file\/sub: .*a-file is a file, not a folder/);
        assert.doesNotMatch(result.stderr, /ENOENT|ENOTDIR|^\s+at /m);
      }
    });

    it('demo with TMPDIR a file: names TMPDIR and --dir (in-process: tsx itself needs TMPDIR)', async function () {
      const saved = process.env.TMPDIR;
      process.env.TMPDIR = file;
      try {
        await assert.rejects(runDemo({ cards: 5 }), (err: Error) => err instanceof UsageError
          && /cannot make a temporary folder in .*a-file \(TMPDIR\): ENOTDIR; give the demo a folder with --dir DIR/.test(err.message));
      } finally {
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
      }
    });
  });

  it('the seeds of 15 digits still run, and give the same cards for the same seed', async function () {
    const a = await runDemo({ cards: 5, bureaus: 1, seed: -999_999_999_999_999, dir: join(base, 'seed-a') });
    assert.equal(a.ok, true, a.check.problems.join('\n'));
  });

  it('in a folder whose name holds a space, a quote, a $ and non-ASCII letters: the printed commands run as printed', async function () {
    requireGpg(this);
    const dir = join(base, "Jürgen's demo $HOME кир");
    const outcome = await runDemo({ cards: 30, dir, seed: 5 });
    assert.equal(outcome.ok, true, outcome.check.problems.join('\n'));
    const summary = formatDemoSummary(outcome);
    const look = summary.split('\n').slice(summary.split('\n').findIndex((l) => l.includes('Look further')) + 1).map((l) => l.trim()).filter(Boolean);
    // `npx bureau-exchange` as the repository's bin, so that the line itself is what runs
    const npx = `npx() { shift; node ${JSON.stringify(join(PROJECT_ROOT, 'bin', 'bureau-exchange.js'))} "$@"; }`;
    const run = (line: string) => spawnSync('bash', ['-c', `${npx}\nset -o pipefail\n${line}`], { encoding: 'utf8', timeout: 60_000 });

    const status = run(look.find((l) => l.endsWith(' status'))!);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /Shipped|InProduction|Rejected/);

    const decrypt = look.filter((l) => l.includes('gpg --homedir'));
    assert.equal(decrypt.length, 2, 'one per bureau');
    for (const line of decrypt) {
      const out = run(line.replace(/\s+#.*$/, ''));
      assert.equal(out.status, 0, `${line}\n${out.stderr}`);
      assert.match(out.stdout, /detail record 1 \(line 2\)/, 'the first card of the clear file, field by field');
      assert.match(out.stdout, /\[400000\*{6}\d{4}\]/, 'its PAN masked');
      assert.doesNotMatch(out.stdout, /400000\d{10}/, 'no full PAN (the demo BIN is 400000) on the terminal');
    }
    const verify = look.filter((l) => l.startsWith('openssl dgst'));
    assert.equal(verify.length, 2);
    for (const line of verify) assert.match(run(line).stdout, /Verified OK/, line);
  });
});
