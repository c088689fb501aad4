import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { PanCipher } from '../../src/security/pan.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';
import { exchangeThroughSandbox, type Exchanged } from '../web/sandbox-exchange.js';

describe('history and contracts show, after a real send and receive through the sandbox', function () {
  this.timeout(240_000);
  let base: string;
  let ex: Exchanged;
  let db: Db;

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'bx-ops-cli-'));
    ex = await exchangeThroughSandbox(join(base, 'sbx'), 30);
    db = openDatabase(ex.config);
  });
  after(async () => {
    await db?.destroy();
    rmSync(base, { recursive: true, force: true });
  });

  describe('history', () => {
    it('lists both runs, latest first, with the counts and files the database holds', async () => {
      const r = await ex.cli(['history', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const runs = JSON.parse(r.stdout);
      const batches = await db('perso_batches').select('file_name', 'record_count');
      const reports = await db('bureau_reports').where({ state: 'applied' }).select('remote_name');
      assert.deepEqual(runs.map((x: any) => [x.job, x.trigger, x.outcome]), [['receive', 'manual', 'ok'], ['send', 'manual', 'ok']]);
      assert.deepEqual(runs[1].files, batches.map((b: any) => b.file_name));
      assert.equal(runs[1].cardsSent, batches.reduce((n: number, b: any) => n + Number(b.record_count), 0));
      assert.deepEqual(runs[0].files, reports.map((x: any) => x.remote_name));
      assert.equal(runs[0].reportsApplied, reports.length);
      assert.ok(runs.every((x: any) => /^[^:]+:\d+:[0-9a-f]+$/.test(x.runner) && x.finishedAt >= x.startedAt));
    });

    it('filters by --job, --since and --limit; the table names the outcome', async () => {
      const send = JSON.parse((await ex.cli(['history', '--job', 'send', '--json'])).stdout);
      assert.deepEqual(send.map((x: any) => x.job), ['send']);
      assert.deepEqual(JSON.parse((await ex.cli(['history', '--since', '2999-01-01', '--json'])).stdout), []);
      assert.equal(JSON.parse((await ex.cli(['history', '--limit', '1', '--json'])).stdout).length, 1);
      const table = await ex.cli(['history']);
      assert.match(table.stdout, /receive\s+manual\s+manual\s+\S+\s+\S+\s+ok\s+1 applied, 0 quarantined/);
    });

    it('--since a time without an offset is UTC, as the times it lists and as a date: the same runs in any time zone of the host', async () => {
      const runs = JSON.parse((await ex.cli(['history', '--json'])).stdout);
      const first = new Date(Math.min(...runs.map((x: any) => Date.parse(x.startedAt))) - 60_000).toISOString().slice(0, 16); // 2026-12-05T22:15
      const tz = process.env.TZ;
      try {
        for (const zone of ['America/New_York', 'Asia/Tokyo', 'UTC']) {
          process.env.TZ = zone;
          const since = JSON.parse((await ex.cli(['history', '--since', first, '--json'])).stdout);
          assert.deepEqual(since.map((x: any) => x.id), runs.map((x: any) => x.id), `TZ=${zone}: --since ${first}`);
          assert.deepEqual(JSON.parse((await ex.cli(['history', '--since', `${first}-12:00`, '--json'])).stdout), [], `TZ=${zone}: an offset given is taken`);
        }
      } finally {
        if (tz === undefined) delete process.env.TZ;
        else process.env.TZ = tz;
      }
    });

    it('a wrong --job or --since is a usage error naming the option', async () => {
      for (const [args, message] of [[['--job', 'bogus'], /--job: send or receive/], [['--since', 'yesterday'], /--since: "yesterday"/]] as const) {
        const r = await ex.cli(['history', ...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
      }
    });

    it('never creates or migrates a database', async () => {
      const dir = mkdtempSync(join(base, 'empty-'));
      const config = join(dir, 'config.yaml');
      writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n`);
      const r = await runCli(['--config', config, 'history'], { BX_PAN_KEY: newPanKey().toString('base64') });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /does not exist.*bureau-exchange migrate/);
    });
  });

  describe('contracts show', () => {
    async function cardWith(status: string) {
      const card = await db('card_contracts').where({ production_status: status }).orderBy('id').first();
      assert.ok(card, `a ${status} card after the exchange`);
      const pan = new PanCipher(Buffer.from(ex.env.BX_PAN_KEY!, 'base64')).decrypt(card.pan_enc, { contractNumber: card.contract_number, plasticId: card.plastic_id, panLast4: card.pan_last4 });
      return { card, pan };
    }

    it("tells a shipped card's story: import, batch, report, with file and report names, and never its PAN", async () => {
      const { card, pan } = await cardWith('Shipped');
      const r = await ex.cli(['contracts', 'show', card.contract_number, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const [shown] = JSON.parse(r.stdout);
      const batch = await db('perso_batches').where({ id: card.batch_id }).first();
      const report = await db('contract_events as e').join('bureau_reports as b', 'b.id', 'e.source_id')
        .where({ 'e.contract_id': card.id, 'e.source_kind': 'report' }).first('b.id', 'b.remote_name');
      assert.equal(shown.status, 'Shipped');
      assert.equal(shown.pan, pan.slice(0, 6) + '*'.repeat(pan.length - 10) + pan.slice(-4));
      assert.deepEqual(shown.events.map((e: any) => [e.source, e.to, e.sourceName]),
        [['import', 'Marked', null], ['batch', 'InProduction', batch.file_name], ['report', 'Shipped', report.remote_name]]);
      assert.deepEqual(shown.batches.map((b: any) => [b.fileName, b.state]), [[batch.file_name, 'sent']]);
      assert.deepEqual(shown.reports.map((x: any) => [x.id, x.remoteName]), [[Number(report.id), report.remote_name]]);
      assert.equal(shown.panEnc, undefined, 'not even the ciphertext');
      for (const out of [r.stdout, r.stderr, (await ex.cli(['contracts', 'show', card.contract_number])).stdout]) {
        assert.ok(!out.includes(pan), 'the full PAN is never printed');
      }
    });

    it('prints a rejected card with its reason, events and files as text', async () => {
      const { card, pan } = await cardWith('Rejected');
      const r = await ex.cli(['contracts', 'show', card.contract_number]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Contract ${card.contract_number}, plastic ${card.plastic_id}: Rejected \\(${card.reject_code}`));
      assert.match(r.stdout, /Events\n[\s\S]*\(new\) -> Marked\s+import[\s\S]*InProduction -> Rejected\s+report/);
      assert.match(r.stdout, /Batch files\n[\s\S]*BXISSUER_PERSO_\d{8}_\d{6}\.dat\.pgp\s+\d{4}-\d{2}-\d{2}\s+sent/);
      assert.ok(!r.stdout.includes(pan));
    });

    it('an unknown or malformed contract id is a usage error', async () => {
      const unknown = await ex.cli(['contracts', 'show', '999999999']);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /contract 999999999: no such contract/);
      const bad = await ex.cli(['contracts', 'show', '12ab']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /contract id: 1 to 15 digits/);
    });
  });
});
