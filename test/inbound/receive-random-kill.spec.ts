import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { silentLogger } from '../../src/log.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase } from '../helpers/db.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { filesIn } from '../outbound/harness.js';
import { BureauFolder, header, rejection, reportName, rsaKeyPair, shipment, xmlOf } from './fixtures.js';
import { seedBatch } from './seed.js';

const CHILD = fileURLToPath(new URL('./receive-child.ts', import.meta.url));
const GOOD_REPORTS = 3;
const CARDS_PER_REPORT = 4;

/** A receive run in a child process (receive-child.ts without a pause point: it runs to its end). */
interface RunningChild {
  pid: number;
  /** resolves when the job is about to run (the child's imports and database are open) */
  started: Promise<void>;
  /** how it ended */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
  kill(): Promise<void>;
}

function startChild(config: Config): RunningChild {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, BX_CHILD_CONFIG: JSON.stringify(config) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, output }));
  });
  const started = new Promise<void>((resolve) => {
    child.on('message', (m: { started?: boolean }) => m.started && resolve());
    void ended.then(() => resolve());
  });
  return {
    pid: child.pid!,
    started,
    ended,
    async kill() {
      child.kill('SIGKILL');
      await ended;
    },
  };
}

/** What was put on the server, and what each good report must leave behind. */
interface Scene {
  db: Db;
  workDir: string;
  config: Config;
  good: Array<{ name: string; sha256: string; rejected: number[]; shipped: number[]; product: string; closing: number }>;
  bad: { name: string; sha256: string };
  ids: Map<number, number>;
}

let round = 0;

async function makeScene(db: Db, bureau: BureauFolder, server: SshdServer, keys: ReturnType<typeof rsaKeyPair>, database: Config['database']): Promise<Scene> {
  const r = ++round;
  bureau.clear();
  const workDir = mkdtempSync(join(tmpdir(), 'bx-recv-rkill-'));
  const config: Config = testConfig({
    workDir, database, sftp: server.sftpConfig(),
    reports: { signatures: 'off', rsaPrivateKeyFile: keys.keyFile, stableCheckSeconds: 0, decryptWorkers: 1 },
  });
  const cards = Array.from({ length: GOOD_REPORTS * CARDS_PER_REPORT }, (_, k) => 10_000 + 100 * r + k);
  const batch = await seedBatch(db, cards);
  const good: Scene['good'] = [];
  const names = Array.from({ length: GOOD_REPORTS + 1 }, () => reportName());
  const badAt = 1; // the bad report between good ones: the ones after it must still be received
  for (let i = 0, g = 0; i < names.length; i++) {
    if (i === badAt) continue;
    const mine = cards.slice(g * CARDS_PER_REPORT, (g + 1) * CARDS_PER_REPORT);
    g++;
    const product = `RK${r}P${i}`;
    const closing = 100 * r + i;
    const xml = xmlOf({
      header: { ...header(batch.fileName), recordsReceived: cards.length },
      rejections: [rejection(mine[0]!)],
      shipments: mine.slice(1).map((n) => shipment(n, { shipped: '2026-11-26', sequence: cards.indexOf(n) + 1 })),
      stock: [{ productCode: product, opening: 5000, received: 0, used: 1, spoiled: 0, closing, minStock: 10 }],
    });
    const encrypted = encryptRsaReport(Buffer.from(xml), keys.publicPem);
    bureau.put(names[i]!, encrypted);
    good.push({ name: names[i]!, sha256: sha(encrypted), rejected: [mine[0]!], shipped: mine.slice(1), product, closing });
  }
  const broken = encryptRsaReport(Buffer.from('<BureauReport version="1"><Header><Issuer>BXISSUER</Issuer>'), keys.publicPem);
  bureau.put(names[badAt]!, broken);
  return { db, workDir, config, good, bad: { name: names[badAt]!, sha256: sha(broken) }, ids: batch.ids };
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A dead run's lease, as if its TTL had run out (the lease suites test the expiry itself). */
const expireLeases = (db: Db) => db('leases').update({ expires_at: Date.now() - 1 });

/** Every good report applied exactly once, the bad one quarantined once, the folders in their final state. */
async function assertConverged(s: Scene, bureau: BureauFolder): Promise<void> {
  const rows = await s.db('bureau_reports').whereIn('sha256', [...s.good.map((g) => g.sha256), s.bad.sha256]).select('sha256', 'state', 'remote_state');
  const bySha = new Map(rows.map((r: any) => [r.sha256, r]));
  assert.equal(rows.length, s.good.length + 1, 'one row per report file');
  for (const g of s.good) {
    assert.deepEqual({ ...bySha.get(g.sha256) }, { sha256: g.sha256, state: 'applied', remote_state: 'processed' }, g.name);
    for (const n of [...g.rejected, ...g.shipped]) {
      const id = s.ids.get(n)!;
      const card = await s.db('card_contracts').where({ id }).first('production_status');
      assert.equal(card.production_status, g.rejected.includes(n) ? 'Rejected' : 'Shipped', `card ${n}`);
      const events = await s.db('contract_events').where({ contract_id: id, source_kind: 'report' }).count({ n: '*' });
      assert.equal(Number(events[0]!.n), 1, `card ${n}: one report event`);
    }
    const stock = await s.db('plastic_stock').where({ product_code: g.product }).select('closing');
    assert.deepEqual(stock.map((x: any) => Number(x.closing)), [g.closing], `stock ${g.product}`);
    const history = await s.db('plastic_stock_history').where({ product_code: g.product }).count({ n: '*' });
    assert.equal(Number(history[0]!.n), 1, `stock history ${g.product}: one point`);
  }
  assert.deepEqual({ ...bySha.get(s.bad.sha256) }, { sha256: s.bad.sha256, state: 'quarantined', remote_state: 'failed' });
  assert.deepEqual(bureau.files(), [], 'nothing left in the outbound folder');
  assert.deepEqual(bureau.files('processed'), s.good.map((g) => g.name).sort());
  assert.deepEqual(bureau.files('failed'), [s.bad.name]);
  assert.deepEqual(filesIn(join(s.workDir, 'archive', 'reports')), s.good.map((g) => `${g.sha256}.rsa`).sort());
  assert.deepEqual(filesIn(join(s.workDir, 'quarantine')), [`${s.bad.sha256}.rsa`]);
  const leases = await s.db('leases').where('name', 'like', 'receive%').where('expires_at', '>', Date.now()).select('owner');
  assert.deepEqual(leases, [], 'no receive lease left held');
}

describe('receive job killed at random times, and two receives at once', () => {
  let server: SshdServer;
  let bureau: BureauFolder;
  let keyDir: string;
  let keys: ReturnType<typeof rsaKeyPair>;

  before(async function () {
    requireSshd(this);
    server = await startSshd();
    bureau = new BureauFolder(server.root);
    keyDir = mkdtempSync(join(tmpdir(), 'bx-recv-rkill-keys-'));
    keys = rsaKeyPair(keyDir, 'ours');
  });
  after(async () => {
    await server?.stop();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  describeEachDatabase('receive, random kill -9', (ctx) => {
    it('killed once or twice at any moment, then run to its end: each good report applied once, the bad one quarantined once, nothing half-moved', async function () {
      this.timeout(300_000);
      const { db, database } = ctx();
      await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 2500 }), { minLength: 1, maxLength: 2 }), async (delays) => {
        const scene = await makeScene(db, bureau, server, keys, database);
        try {
          for (const ms of delays) {
            const child = startChild(scene.config);
            await child.started;
            const outcome = await Promise.race([child.ended, new Promise<undefined>((resolve) => setTimeout(resolve, ms))]);
            if (outcome) assert.equal(outcome.code, 0, `a run before its kill failed:\n${outcome.output}`);
            await child.kill();
            await expireLeases(db);
          }
          const final = startChild(scene.config);
          const ended = await final.ended;
          assert.equal(ended.code, 0, `the last run:\n${ended.output}`);
          await assertConverged(scene, bureau);
          // and a run after it finds nothing to do
          const again = await makeReceiveJob({ db, config: scene.config, log: silentLogger, transport: makeSftpTransport(scene.config.sftp, { log: silentLogger }) }).run();
          assert.deepEqual([again.applied.length, again.quarantined.length, again.duplicates], [0, 0, 0]);
        } finally {
          rmSync(scene.workDir, { recursive: true, force: true });
        }
      }), { numRuns: 5 });
    });

    it('two receives of the same bureau at once (the daemon and a receive by hand): each report once, the loser told the lease is held, no lease left', async function () {
      this.timeout(120_000);
      const { db, database } = ctx();
      const scene = await makeScene(db, bureau, server, keys, database);
      try {
        const [a, b] = [startChild(scene.config), startChild(scene.config)];
        const ended = await Promise.all([a.ended, b.ended]);
        const codes = ended.map((e) => e.code);
        // both may succeed one after the other (the second found the work done); a loser fails on the lease only
        for (const e of ended) if (e.code !== 0) assert.match(e.output, /another runner holds the receive lease/, e.output);
        assert.ok(codes.includes(0), `one of them ran:\n${ended.map((e) => e.output).join('\n')}`);
        const runner = ended.find((e) => e.code === 0)!;
        assert.match(runner.output, /finished/);
        // a run that won the lease quarantines the bad report: its exit is still 0 here (receive-child does not map results to codes)
        await assertConverged(scene, bureau);
      } finally {
        rmSync(scene.workDir, { recursive: true, force: true });
      }
    });
  });
});
