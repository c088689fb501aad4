import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory from 'knex';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

describe('status, calendar and history with two bureaus (CLI, SQLite)', function () {
  this.timeout(120_000);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  const dir = mkdtempSync(join(tmpdir(), 'bx-op-bureaus-'));
  const config = join(dir, 'config.yaml');
  const cli = (...args: string[]) => runCli(['--config', config, ...args], env);

  before(async () => {
    writeFileSync(config, [
      'issuer: { code: BXISSUER }', `workDir: ${dir}/var`,
      'calendar: { holidays: DE }',
      'schedule: { timezone: Europe/Berlin, sendAt: ["17:00"] }',
      'bureaus:',
      '  - { code: BUREAU01 }',
      '  - { code: EMB01, layout: emb-v1, sendAt: ["15:30", "11:00"], sftp: { inboundDir: /emb-in, outboundDir: /emb-out } }',
      'routing: { default: BUREAU01 }',
      '',
    ].join('\n'));
    assert.equal((await cli('migrate')).code, 0);
    const db = knexFactory({ client: 'better-sqlite3', connection: { filename: join(dir, 'var', 'bureau-exchange.sqlite') }, useNullAsDefault: true });
    try {
      const now = '2026-11-26T09:00:00.000Z';
      const batch = (bureau: string | null, sequence: number, state: string) => ({
        bureau_code: bureau, business_date: '2026-11-26', sequence, file_name: `${bureau ?? 'OLD'}_${sequence}.pgp`, state,
        created_at: now, updated_at: now, sent_at: state === 'sent' ? now : null,
      });
      await db('perso_batches').insert([batch(null, 1, 'sent'), batch('BUREAU01', 2, 'claimed'), batch('EMB01', 1, 'encrypted'), batch('EMB01', 2, 'uploaded')]);
      const run = (job: string, id: number) => ({
        id, job, trigger: 'schedule', reason: 'cut-off', runner: 'h:1:a', started_at: now, finished_at: now, outcome: 'ok', cards_sent: id, invalid: 0, files: 0, reports_applied: 0, reports_quarantined: 0,
      });
      await db('job_runs').insert([run('send', 1), run('send:EMB01', 2), run('receive', 3)]);
    } finally {
      await db.destroy();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("status: each bureau's batches by state; --bureau one bureau's", async () => {
    const all = await cli('status');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Batches per bureau[^\n]*\nbureau +claimed +encrypted +uploaded +sent +unsent *\nBUREAU01 +1 +0 +0 +1 +1 *\nEMB01 +0 +1 +1 +0 +2 *\n/);
    const json = JSON.parse((await cli('status', '--bureau', 'EMB01', '--json')).stdout);
    assert.deepEqual(json.bureaus.map((b: any) => [b.bureau, b.unsent]), [['EMB01', 2]]);
    assert.deepEqual(json.batches.map((b: any) => b.fileName).sort(), ['EMB01_1.pgp', 'EMB01_2.pgp']);
    const first = JSON.parse((await cli('status', '--bureau', 'BUREAU01', '--json')).stdout);
    assert.deepEqual(first.batches.map((b: any) => [b.bureau, b.fileName]).sort(), [['BUREAU01', 'BUREAU01_2.pgp'], ['BUREAU01', 'OLD_1.pgp']]);
  });

  it("calendar: each bureau's cut-offs on business days; --bureau one bureau's", async () => {
    const r = await cli('calendar', '--from', '2026-12-24', '--days', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Cut-offs \(Europe\/Berlin\): BUREAU01 17:00; EMB01 11:00 15:30/);
    assert.match(r.stdout, /2026-12-24 +Thursday +yes +BUREAU01 17:00; EMB01 11:00 15:30/);
    assert.match(r.stdout, /2026-12-25 +Friday +no +holiday: Christmas Day[^\n]*\n/);
    const json = JSON.parse((await cli('calendar', '--from', '2026-12-24', '--days', '2', '--json', '--bureau', 'EMB01')).stdout);
    assert.deepEqual(json.map((d: any) => d.cutOffs), [{ EMB01: ['11:00', '15:30'] }, { EMB01: [] }]);
    const bad = await cli('calendar', '--bureau', 'NOPE');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--bureau: "NOPE" is not a configured bureau \(BUREAU01, EMB01\)/);
  });

  it("history: --job send is every bureau's sends, each with its bureau; --bureau one bureau's", async () => {
    const sends = JSON.parse((await cli('history', '--job', 'send', '--json')).stdout);
    assert.deepEqual(sends.map((r: any) => [r.job, r.bureau]), [['send:EMB01', 'EMB01'], ['send', 'BUREAU01']]);
    const first = JSON.parse((await cli('history', '--bureau', 'BUREAU01', '--json')).stdout);
    assert.deepEqual(first.map((r: any) => r.job), ['send']);
    const emb = await cli('history', '--bureau', 'EMB01');
    assert.match(emb.stdout, /send:EMB01 +EMB01 +schedule/);
    assert.doesNotMatch(emb.stdout, /receive|BUREAU01/);
    const wrong = await cli('history', '--bureau', 'EMB01', '--job', 'receive');
    assert.equal(wrong.code, 2);
  });
});
