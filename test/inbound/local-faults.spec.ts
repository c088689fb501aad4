import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import knexFactory, { type Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { InputError, TimeLimitError } from '../../src/errors.js';
import { RECEIVE_LEASE } from '../../src/inbound/receive-job.js';
import type { Dialect } from '../../src/db/connection.js';
import { DIALECTS, describeEachDatabase, type TestDatabase } from '../helpers/db.js';
import { header, rejection, reportName, shipment, xmlOf } from './fixtures.js';
import { startReceiveBench, within, type ReceiveBench } from './harness.js';
import { contractOf, seedBatch } from './seed.js';

/**
 * Local faults for real — a full disk (a small tmpfs as the work folder), a read-only folder
 * (a read-only mount: root ignores permission bits), the database connection killed in the middle
 * of the apply, a stuck step past its time limit. Each must fail the run without quarantining the
 * good report or applying part of it; the next run, once the fault is gone, finishes the work once.
 */
function mount(ctx: Mocha.Context, args: string[], what: string): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status === 0) return;
  if (process.env.CI) throw new Error(`CI requires ${what}: mount ${args.join(' ')}: ${r.stderr}`);
  console.warn(`  (pending: cannot mount ${what}: ${r.stderr.trim()})`);
  ctx.skip();
}

function umount(dir: string): void {
  spawnSync('umount', ['-l', dir]);
}

for (const dialect of DIALECTS) {
  describeEachDatabase('inbound/receive-job local faults', (ctx) => faultSuite(ctx, dialect), [dialect]);
}

function faultSuite(ctx: () => TestDatabase, dialect: Dialect): void {
  let bench: ReceiveBench;
  let db: Db;
  let workDir: string;
  let mounted: string[] = [];
  let nextCard = 200_000;

  before(async function () {
    this.timeout(60_000);
    bench = await startReceiveBench(this);
    db = ctx().db;
  });
  after(async () => bench?.stop());
  beforeEach(() => {
    bench.bureau.clear();
    workDir = mkdtempSync(join(tmpdir(), 'bx-faults-work-'));
    mounted = [];
  });
  afterEach(() => {
    for (const dir of mounted.reverse()) umount(dir);
    rmSync(workDir, { recursive: true, force: true });
  });

  const config = (reports: Partial<Config['reports']> = {}) => bench.config(workDir, { maxClearBytes: 8 << 20, ...reports });
  const events = async (ids: Iterable<number>) => Number((await db('contract_events').whereIn('contract_id', [...ids]).where({ source_kind: 'report' }).count({ n: '*' }))[0]!.n);

  /**
   * A good report of about 400 KB clear text: three real contracts (rejected, shipped, shipped) and
   * padding records naming contracts we never sent (anomalies), so that its size is easy to exceed.
   */
  async function goodReport(kind: 'rsa' | 'pgp' = 'rsa', padding = 650, reasonLength = 400) {
    const cards = [nextCard++, nextCard++, nextCard++];
    const batch = await seedBatch(db, cards);
    const unknown = Array.from({ length: padding }, (_, i) => ({ ...rejection(900_000 + i), reason: 'p'.repeat(reasonLength) }));
    const xml = xmlOf({
      header: { ...header(batch.fileName), recordsReceived: 3 },
      rejections: [rejection(cards[0]!), ...unknown],
      shipments: [shipment(cards[1]!, { shipped: '2026-11-26' }), shipment(cards[2]!, { expected: '2026-11-30' })],
    });
    const data = kind === 'rsa' ? encryptRsaReport(Buffer.from(xml), bench.ours.publicPem) : bench.gpg.gpgEncrypt(Buffer.from(xml), bench.pgpPublicFile);
    const name = reportName(kind);
    bench.bureau.put(name, data);
    return { name, data, cards, ids: [...batch.ids.values()], clearBytes: xml.length, encryptedBytes: data.length };
  }

  /** The run failed and left everything as it was: report on the server, no row, no quarantine, contracts untouched. */
  async function nothingHappened(report: { name: string; cards: number[]; ids: number[] }) {
    assert.ok(bench.bureau.files().includes(report.name), `${report.name} stays in outbound/`);
    assert.deepEqual(bench.bureau.files('failed'), []);
    assert.equal(await db('bureau_reports').where({ remote_name: report.name }).first(), undefined);
    assert.equal(await events(report.ids), 0);
    for (const n of report.cards) assert.equal((await contractOf(db, n)).production_status, 'InProduction');
    if (existsSync(join(workDir, 'quarantine'))) assert.deepEqual(readdirSync(join(workDir, 'quarantine')), []);
    assert.equal(await db('leases').where({ name: RECEIVE_LEASE }).first(), undefined, 'the lease was released');
  }

  /** The next run applies every report once. */
  async function nextRunFinishes(reports: Array<{ name: string; cards: number[]; ids: number[] }>, c = config()) {
    const result = await within(bench.run(db, c), 60_000, 'the next run');
    assert.deepEqual(result.quarantined, []);
    assert.deepEqual(result.applied.map((r) => r.remoteName).sort(), reports.map((r) => r.name).sort());
    for (const r of reports) {
      assert.equal(await events(r.ids), 3, `${r.name}: each contract changed once`);
      assert.equal((await contractOf(db, r.cards[0]!)).production_status, 'Rejected');
      assert.equal((await contractOf(db, r.cards[1]!)).production_status, 'Shipped');
    }
    assert.deepEqual(bench.bureau.files(), []);
  }

  const failsWith = (code: string) => (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, code, `expected ${code}, got ${err.name}: ${err.message}`);
    return true;
  };

  it('a full disk while downloading or decrypting (.rsa and .pgp) fails the run with ENOSPC; nothing quarantined; the next run applies', async function () {
    this.timeout(120_000);
    mount(this, ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', workDir], 'a small tmpfs as the work folder (full disk)');
    mounted.push(workDir);
    const rsa = await goodReport('rsa');
    assert.ok(rsa.encryptedBytes > 300_000, 'the download does not fit');
    await assert.rejects(within(bench.run(db, config()), 60_000, 'a download onto a full disk'), failsWith('ENOSPC'));
    await nothingHappened(rsa);

    mount(this, ['-o', 'remount,size=700k', workDir], 'a tmpfs remount');
    assert.ok(rsa.encryptedBytes < 650_000 && rsa.encryptedBytes + rsa.clearBytes > 750_000, 'the download fits, the clear text does not');
    await assert.rejects(within(bench.run(db, config()), 60_000, 'a decryption onto a full disk'), failsWith('ENOSPC'));
    await nothingHappened(rsa);

    rmSync(bench.bureau.path(rsa.name)); // out of the way, put back below: the same with OpenPGP
    const pgp = await goodReport('pgp');
    await assert.rejects(within(bench.run(db, config()), 60_000, 'a decryption onto a full disk'), failsWith('ENOSPC'));
    await nothingHappened(pgp);

    bench.bureau.put(rsa.name, rsa.data);
    mount(this, ['-o', 'remount,size=64m', workDir], 'a tmpfs remount');
    await nextRunFinishes([rsa, pgp]);
  });

  it('a read-only work folder fails the run (EROFS); a read-only quarantine folder does not lose the bad report', async function () {
    this.timeout(120_000);
    mount(this, ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', workDir], 'a tmpfs as the work folder');
    mounted.push(workDir);
    const bad = reportName(); // processed before the good one
    const good = await goodReport('rsa', 10);
    for (const dir of ['inbox', 'quarantine', 'archive/reports']) mkdirSync(join(workDir, dir), { recursive: true, mode: 0o700 });
    mount(this, ['-o', 'remount,ro', workDir], 'a read-only remount');
    await assert.rejects(within(bench.run(db, config()), 60_000, 'the run on a read-only folder'), failsWith('EROFS'));
    await nothingHappened(good);
    mount(this, ['-o', 'remount,rw', workDir], 'a read-write remount');

    // only the quarantine folder read-only: the bad report cannot be kept, so it is not quarantined either
    const quarantine = join(workDir, 'quarantine');
    mount(this, ['--bind', quarantine, quarantine], 'a bind mount');
    mounted.push(quarantine);
    mount(this, ['-o', 'remount,bind,ro', quarantine], 'a read-only bind mount');
    bench.bureau.put(bad, encryptRsaReport(Buffer.from('<BureauReport version="1"><Header>'), bench.ours.publicPem));
    await assert.rejects(within(bench.run(db, config()), 60_000, 'the run with a read-only quarantine'), (err: NodeJS.ErrnoException) => ['EROFS', 'EXDEV'].includes(err.code ?? ''));
    assert.ok(bench.bureau.files().includes(bad), 'the bad report stays on the server');
    assert.equal(await db('bureau_reports').where({ remote_name: bad }).first(), undefined);
    umount(quarantine);
    mounted.pop();

    const result = await within(bench.run(db, config()), 60_000, 'the next run');
    assert.deepEqual(result.quarantined.map((q) => q.remoteName), [bad]);
    assert.deepEqual(result.applied.map((r) => r.remoteName), [good.name]);
    assert.equal(await events(good.ids), 3);
    assert.deepEqual(bench.bureau.files('failed'), [bad]);
  });

  it('a report past its time limit fails the run: rolled back, lease released, the limit named; the next run applies it', async function () {
    this.timeout(120_000);
    const report = await goodReport('rsa', 10);
    const slowApply = { afterApplyGroup: () => sleep(2500) }; // a step inside the transaction that takes too long
    const limited = config({ reportTimeLimitSeconds: 1, runTimeLimitSeconds: 30 });
    const started = Date.now();
    await assert.rejects(within(bench.run(db, limited, { hooks: slowApply }), 30_000, 'the run past its time limit'),
      (err: Error) => err instanceof TimeLimitError && /exceeded its time limit of 1 s \(reports\.reportTimeLimitSeconds\)/.test(err.message) && err.message.includes(report.name));
    assert.ok(Date.now() - started < 15_000);
    await sleep(3000); // the background step ends; its transaction must roll back, not commit
    await nothingHappened(report);
    await nextRunFinishes([report]);
  });

  it('a report past its own time limit does not hold the reports after it: they are received, the run fails naming it, the next run applies it', async function () {
    this.timeout(120_000);
    const slow = await goodReport('rsa', 10);
    const after = await goodReport('rsa', 10);
    assert.ok(slow.name < after.name, 'the slow report comes first');
    const slowApply = { afterApplyGroup: (remoteName: string) => (remoteName === slow.name ? sleep(2500) : undefined) };
    const limited = config({ reportTimeLimitSeconds: 1, runTimeLimitSeconds: 30 });
    await assert.rejects(within(bench.run(db, limited, { hooks: slowApply }), 30_000, 'the run with a slow report'),
      (err: Error) => err instanceof TimeLimitError && new RegExp(`^report ${slow.name} exceeded its time limit of 1 s \\(reports\\.reportTimeLimitSeconds\\): left on the server`).test(err.message)
        && err.message.includes(slow.name) && !err.message.includes(after.name));
    assert.equal(await events(after.ids), 3, 'the report after the slow one was applied');
    assert.deepEqual(bench.bureau.files(), [slow.name]);
    await sleep(3000); // the slow report's background step ends; its transaction must roll back, not commit
    assert.equal(await events(slow.ids), 0);
    assert.deepEqual(bench.bureau.files('failed'), []);
    await nextRunFinishes([slow]);
  });

  it('a server that stops answering is stopped by the run time limit, and the lease is released', async function () {
    this.timeout(120_000);
    const report = await goodReport('rsa', 10);
    const stall = async () => bench.server.signalSessions('SIGSTOP'); // between the two listings
    try {
      await assert.rejects(within(bench.run(db, config({ stableCheckSeconds: 0.1, runTimeLimitSeconds: 2, reportTimeLimitSeconds: 1 }), { sleep: stall }), 30_000, 'the stalled run'),
        (err: Error) => err instanceof TimeLimitError && /receive run exceeded its time limit of 2 s \(reports\.runTimeLimitSeconds\)/.test(err.message));
    } finally {
      bench.server.signalSessions('SIGCONT');
      bench.server.killSessions();
    }
    await nothingHappened(report);
    await nextRunFinishes([report]);
  });

  // only a server database can be stopped under a running job
  if (dialect !== 'sqlite') {
    it(`the database connection killed in the middle of the apply (${dialect}): the run fails, nothing applied, the next run applies once`, async function () {
      this.timeout(120_000);
      const { database } = ctx();
      const admin = knexFactory({ client: dialect === 'pg' ? 'pg' : 'mysql2', connection: database.url, pool: { min: 0, max: 1 } });
      try {
        const report = await goodReport('rsa', 1100, 1); // two groups of records: the kill lands between them
        let killed = 0;
        const kill = {
          afterApplyGroup: async () => {
            if (killed++) return;
            await killOtherConnections(admin, dialect);
          },
        };
        await assert.rejects(within(bench.run(db, config(), { hooks: kill }), 60_000, 'the run losing its database'),
          (err: Error) => !(err instanceof TimeLimitError) && !(err instanceof InputError) && /terminat|connection|closed|ECONNRESET/i.test(err.message));
        assert.equal(killed >= 1, true);
        // the dead run could not release its lease through the killed connection: it may still be there until its TTL
        await db('leases').where({ name: RECEIVE_LEASE }).delete();
        await nothingHappened(report);
        await nextRunFinishes([report]);
      } finally {
        await admin.destroy();
      }
    });
  }
}

/** Ends every other connection to the test database, as an operator's kill (or a server restart) would. */
async function killOtherConnections(admin: Knex, dialect: Dialect): Promise<void> {
  if (dialect === 'pg') {
    await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
    return;
  }
  const [rows] = await admin.raw('select id from information_schema.processlist where db = database() and id <> connection_id()');
  for (const { id } of rows as Array<{ id: number }>) await admin.raw('kill connection ?', [id]).catch(() => undefined); // may have ended meanwhile
}
