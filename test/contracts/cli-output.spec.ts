import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { makeCard } from '../helpers/cards.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

/**
 * What `contracts import/list/show` print to an operator's terminal: stored text from the card
 * system or a bureau's report never acts on the terminal, and a file refused whole exits 1 naming
 * where, with nothing imported.
 */
describe('CLI contracts: hostile text and refused files', function () {
  this.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'bx-cli-contracts-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n`);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  const cli = (...args: string[]) => runCli(['--config', config, ...args], env);
  after(() => rmSync(dir, { recursive: true, force: true }));
  // what a terminal acts on: C0 but the line break, DEL and C1 (U+009B is CSI), bidirectional overrides
  const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

  before(async () => assert.equal((await cli('migrate')).code, 0));
  /** the CLI's SQLite database, opened here to store what a bureau's report or an older version may have */
  async function withDatabase(work: (db: Knex) => Promise<void>): Promise<void> {
    const sqlite = readdirSync(join(dir, 'var')).find((f) => f.endsWith('.sqlite'))!;
    const db = knexFactory({ client: 'better-sqlite3', connection: { filename: join(dir, 'var', sqlite) }, useNullAsDefault: true });
    try {
      await work(db);
    } finally {
      await db.destroy();
    }
  }

  it('a bureau reason, courier and event detail holding terminal escapes are shown inert by list and show; --json keeps them exactly', async () => {
    writeFileSync(join(dir, 'one.jsonl'), JSON.stringify(makeCard(1)) + '\n');
    assert.equal((await cli('contracts', 'import', join(dir, 'one.jsonl'))).code, 0);
    const reason = 'embossing \u001b]0;owned\u0007\u001b[2J\u009b31mfailed\r\nOK';
    const courier = 'DHL\u202e\u2066';
    await withDatabase(async (db) => {
      await db('card_contracts').update({ production_status: 'Rejected', reject_code: 'E\u001b[5m', reject_reason: reason, courier, tracking_number: '\u009b2J1Z' });
      await db('contract_events').update({ detail: reason });
    });
    for (const args of [['contracts', 'list'], ['contracts', 'show', '1001']]) {
      const r = await cli(...args);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, TERMINAL_CONTROL, `${args.join(' ')}: ${JSON.stringify(r.stdout)}`);
      assert.match(r.stdout, /embossing \uFFFD\]0;owned\uFFFD\uFFFD\[2J\uFFFD31mfailed  OK/);
    }
    const list = JSON.parse((await cli('contracts', 'list', '--json')).stdout);
    assert.equal(list.reason, `E\u001b[5m ${reason}`);
    assert.equal(list.tracking, `${courier} \u009b2J1Z`);
    const show = await cli('contracts', 'show', '1001', '--json');
    assert.doesNotMatch(show.stdout, /[\u0080-\u009f\u202a-\u202e\u2066-\u2069]/, 'written as \\u escapes');
    assert.equal(JSON.parse(show.stdout)[0].reason, reason);
  });

  it('a PAN in a stored reason, tracking number or event detail (a row the receive did not mask) is masked by list and show, text and --json', async () => {
    writeFileSync(join(dir, 'six.jsonl'), JSON.stringify(makeCard(6)) + '\n');
    assert.equal((await cli('contracts', 'import', join(dir, 'six.jsonl'))).code, 0);
    const pan = '5500 0000 0000 0004';
    await withDatabase(async (db) => {
      await db('card_contracts').where({ contract_number: '1006' }).update({ production_status: 'Rejected', reject_reason: `card ${pan} damaged`, courier: 'DHL', tracking_number: pan.replace(/ /g, '') });
      const card = await db('card_contracts').where({ contract_number: '1006' }).first('id');
      await db('contract_events').where({ contract_id: card.id }).update({ detail: `PAN ${pan}` });
    });
    for (const args of [['contracts', 'list'], ['contracts', 'list', '--json'], ['contracts', 'show', '1006'], ['contracts', 'show', '1006', '--json']]) {
      const r = await cli(...args);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.replace(/[ -]/g, '').includes('5500000000000004'), `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stdout, /550000\*{6}0004/, args.join(' '));
    }
  });

  it('a CSV header with a misspelt column: exit 1, one line naming the file, line 1 and the column, nothing imported', async () => {
    const cols = Object.keys(makeCard(0));
    const file = join(dir, 'typo.csv');
    writeFileSync(file, [cols.join(',').replace('embossedName', 'embosedName') + ',embosedName', [...cols.map((k) => String((makeCard(2) as unknown as Record<string, unknown>)[k] ?? '')), 'X'].join(',')].join('\n'));
    const r = await cli('contracts', 'import', file);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /typo\.csv: line 1 \(the header row\): column "embosedName": is not a card field \(did you mean embossedName\?\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const list = await cli('contracts', 'list', '--json');
    assert.ok(!list.stdout.includes('"1002"'), 'nothing imported');
  });

  it('a path that is not a file (a folder, a device read without end) is a usage error naming it, exit 2; a missing file exit 1', async () => {
    for (const [path, why] of [[dir, /not a file \(a folder\)/], ['/dev/zero', /\/dev\/zero: not a file \(a device, pipe or socket\)/]] as const) {
      const r = await cli('contracts', 'import', path);
      assert.equal(r.code, 2, `${path}: ${r.stderr}`);
      assert.match(r.stderr, why);
    }
    const missing = await cli('contracts', 'import', join(dir, 'nowhere-4111111111111111.jsonl'));
    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /nowhere-411111\*{6}1111\.jsonl: cannot be read \(ENOENT\)/);
  });

  it('skipped lines: each printed with the file and line, the summary counts them, exit 3', async () => {
    const file = join(dir, 'dup.jsonl');
    writeFileSync(file, [makeCard(3), makeCard(4), makeCard(3, { city: 'Paris' }), { ...makeCard(5), expiry: '9901' }].map((c) => JSON.stringify(c)).join('\n'));
    const r = await cli('contracts', 'import', file);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /dup\.jsonl: 2 inserted, 0 updated, 2 skipped/);
    assert.match(r.stderr, /dup\.jsonl: line 3: the same contractId and plasticId as an earlier line of this file/);
    assert.match(r.stderr, /dup\.jsonl: line 4: field expiry: 9901 is more than 10 years ahead/);
  });
});
