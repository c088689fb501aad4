import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';

// Text the CLI did not write, as a database may hold it: a row of an older version, or of a path that
// forgot to scrub. ESC ] retitles the terminal, ESC [2J clears it, U+202E reverses what follows.
const HOSTILE = 'bad value \x1b]0;owned\x07\x1b[2J\x1b[H \u202eelif 4111 1111 1111 1111 and 5500000000000004';
const PANS = ['4111 1111 1111 1111', '4111111111111111', '5500000000000004'];

describeEachDatabase('status and history show stored text with PANs masked and no terminal control', (ctx) => {
  let dir: string;
  let config: string;
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bx-stored-'));
    config = join(dir, 'config.yaml');
    writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\ndatabase: ${JSON.stringify(ctx().database)}\n`);
    const now = new Date().toISOString();
    const { db } = ctx();
    await db('bureau_reports').insert({ remote_name: 'BXISSUER_STATUS_20261205_000001.xml.pgp', sha256: 'a'.repeat(64), kind: 'pgp', state: 'quarantined', error: HOSTILE, created_at: now, updated_at: now });
    await db('job_runs').insert({ job: 'send', trigger: 'manual', reason: 'manual\x1b[31m', runner: 'host:1:ab', started_at: now, finished_at: now, outcome: 'failed', error: HOSTILE });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const clean = (text: string, what: string) => {
    for (const pan of PANS) assert.ok(!text.includes(pan), `${what} shows the PAN ${pan}`);
    assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, `${what} passes control characters to the terminal`);
  };

  for (const command of [['status'], ['history']]) {
    it(`${command.join(' ')}: the table`, async function () {
      this.timeout(60_000);
      const r = await runCli(['--config', config, ...command], env);
      assert.equal(r.code, 0, r.stderr);
      clean(r.stdout, command.join(' '));
      assert.match(r.stdout, /bad value \ufffd\]0;owned\ufffd\ufffd\[2J\ufffd\[H \ufffdelif 411111\*+1111 and 550000\*+0004/);
    });

    it(`${command.join(' ')} --json: PANs masked in the document`, async function () {
      this.timeout(60_000);
      const r = await runCli(['--config', config, ...command, '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      // the same JSON value, but U+202E (which JSON.stringify leaves raw) written as \u202e
      clean(r.stdout, `${command.join(' ')} --json`);
      const doc = JSON.parse(r.stdout);
      const error: string = command[0] === 'status' ? doc.quarantined[0].error : doc[0].error;
      // JSON escapes the control characters itself: the document keeps the text, PANs masked
      assert.equal(error, HOSTILE.replace('4111 1111 1111 1111', '411111******1111').replace('5500000000000004', '550000******0004'));
    });
  }
});
