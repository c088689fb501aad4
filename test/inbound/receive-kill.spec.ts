import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { encryptRsaReport } from '../../src/crypto/rsa.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { silentLogger } from '../../src/log.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';
import { runUntilPaused } from '../helpers/crash-child.js';
import { describeEachDatabase } from '../helpers/db.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { filesIn } from '../outbound/harness.js';
import { BureauFolder, header, rejection, reportName, rsaKeyPair, shipment, xmlOf } from './fixtures.js';
import type { ReceivePausePoint } from './receive-child.js';
import { contractOf, seedBatch } from './seed.js';

const CHILD = fileURLToPath(new URL('./receive-child.ts', import.meta.url));
const CARDS_PER_REPORT = 6;

/** What a test sees of a receive killed at a point: the database, the work folder and the server. */
interface Scene {
  db: Db;
  workDir: string;
  bureau: BureauFolder;
  name: string;
  /** SHA-256 of the encrypted report (the exactly-once key, and our local file name) */
  sha256: string;
  xml: string;
  /** card_contracts.id of the report's cards; the first is rejected, the others shipped */
  ids: number[];
}

const inbox = (s: Scene) => filesIn(join(s.workDir, 'inbox'));
const archive = (s: Scene) => filesIn(join(s.workDir, 'archive', 'reports'));
const reportRows = (s: Scene) => s.db('bureau_reports').where({ sha256: s.sha256 }).select('state', 'remote_state');
const eventsOf = async (s: Scene, id: number) =>
  Number((await s.db('contract_events').where({ contract_id: id, source_kind: 'report' }).count({ n: '*' }))[0]!.n);
const statusOf = async (s: Scene, id: number) => (await s.db('card_contracts').where({ id }).first('production_status')).production_status;

async function nothingApplied(s: Scene): Promise<void> {
  assert.deepEqual(await reportRows(s), [], 'no report row');
  for (const id of s.ids) {
    assert.equal(await eventsOf(s, id), 0, `no event for contract ${id}`);
    assert.equal(await statusOf(s, id), 'InProduction');
  }
  assert.deepEqual(s.bureau.files(), [s.name], 'the report waits on the server');
  assert.deepEqual(s.bureau.files('processed'), []);
}

/** The state each point must leave behind when the process dies there. */
const POINTS: Array<{ at: ReceivePausePoint; what: string; found(s: Scene): Promise<void> }> = [
  {
    at: 'after-download', what: 'downloaded',
    async found(s) {
      assert.deepEqual(inbox(s), [`${s.sha256}.rsa`], 'the download, under its hash');
      await nothingApplied(s);
    },
  },
  {
    at: 'after-decrypt', what: 'decrypted',
    async found(s) {
      assert.deepEqual(inbox(s), [`${s.sha256}.rsa`, `${s.sha256}.xml`]);
      assert.equal(readFileSync(join(s.workDir, 'inbox', `${s.sha256}.xml`), 'utf8'), s.xml, 'the clear report as the bureau wrote it');
      await nothingApplied(s);
    },
  },
  {
    at: 'during-apply', what: 'in the middle of the apply transaction',
    async found(s) {
      assert.deepEqual(inbox(s), [`${s.sha256}.rsa`, `${s.sha256}.xml`]);
      await nothingApplied(s); // the rejections group had been written: rolled back with the rest
    },
  },
  {
    at: 'before-move', what: 'applied, before the remote move',
    async found(s) {
      assert.deepEqual(await reportRows(s), [{ state: 'applied', remote_state: 'pending' }]);
      for (const id of s.ids) assert.equal(await eventsOf(s, id), 1, `one event for contract ${id}`);
      assert.equal(await statusOf(s, s.ids[0]!), 'Rejected');
      assert.equal(await statusOf(s, s.ids[1]!), 'Shipped');
      assert.deepEqual(archive(s), [`${s.sha256}.rsa`], 'our copy is archived');
      assert.deepEqual(inbox(s), [`${s.sha256}.xml`], 'the clear file of the interrupted run (the next run empties the inbox)');
      assert.deepEqual(s.bureau.files(), [s.name], 'the report is still in the outbound folder');
      assert.deepEqual(s.bureau.files('processed'), []);
    },
  },
];

describe('receive job killed with SIGKILL at each step, then restarted', () => {
  let server: SshdServer;
  let bureau: BureauFolder;
  let keys: string;
  let ours: ReturnType<typeof rsaKeyPair>;

  // one sshd and one key pair for the three databases
  before(async function () {
    requireSshd(this);
    server = await startSshd();
    bureau = new BureauFolder(server.root);
    keys = mkdtempSync(join(tmpdir(), 'bx-recv-kill-keys-'));
    ours = rsaKeyPair(keys, 'ours');
  });
  after(async () => {
    await server?.stop();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });

  /** An empty outbound folder, a new work folder and the config of a run on `database`. */
  function freshScene(database: Config['database']): { workDir: string; config: Config } {
    bureau.clear();
    const workDir = mkdtempSync(join(tmpdir(), 'bx-recv-kill-'));
    const config: Config = testConfig({
      workDir, database, sftp: server.sftpConfig(),
      reports: { signatures: 'off', rsaPrivateKeyFile: ours.keyFile, stableCheckSeconds: 0, decryptWorkers: 1 },
    });
    return { workDir, config };
  }

  describeEachDatabase('receive kill -9', (ctx) => {
    POINTS.forEach((point, i) => {
      it(`killed ${point.what} ('${point.at}'): the state is as it died; the restart applies the report exactly once`, async function () {
        this.timeout(180_000);
        const { db, database } = ctx();
        const { workDir, config } = freshScene(database);
        const cards = Array.from({ length: CARDS_PER_REPORT }, (_, k) => 100 * (i + 1) + k);
        const batch = await seedBatch(db, cards);
        const xml = xmlOf({ header: header(batch.fileName), rejections: [rejection(cards[0]!)], shipments: cards.slice(1).map((n) => shipment(n, { shipped: '2026-11-26' })) });
        const encrypted = encryptRsaReport(Buffer.from(xml), ours.publicPem);
        const name = reportName();
        bureau.put(name, encrypted);
        const scene: Scene = {
          db, workDir, bureau, name, xml, sha256: createHash('sha256').update(encrypted).digest('hex'), ids: cards.map((n) => batch.ids.get(n)!),
        };

        const child = await runUntilPaused(CHILD, { BX_CHILD_CONFIG: JSON.stringify(config), BX_PAUSE_AT: point.at }, point.at);
        await child.kill();

        await point.found(scene);
        const leases = await db('leases').select('owner');
        assert.equal(leases.length, 1);
        assert.match(leases[0].owner, new RegExp(`:${child.pid}:`), 'the dead run still holds the receive lease');
        // as if its TTL had run out (the lease suites test the expiry itself)
        await db('leases').update({ expires_at: Date.now() - 1 });

        const result = await makeReceiveJob({ db, config, log: silentLogger, transport: makeSftpTransport(config.sftp, { log: silentLogger }) }).run();
        assert.deepEqual(result.quarantined, []);
        assert.equal(result.applied.length, point.at === 'before-move' ? 0 : 1);
        assert.equal(result.duplicates, point.at === 'before-move' ? 1 : 0, 'an applied report is only moved');
        assert.deepEqual(await reportRows(scene), [{ state: 'applied', remote_state: 'processed' }]);
        for (const id of scene.ids) assert.equal(await eventsOf(scene, id), 1, `contract ${id}: applied exactly once`);
        assert.equal((await contractOf(db, cards[0]!)).production_status, 'Rejected');
        for (const n of cards.slice(1)) assert.equal((await contractOf(db, n)).production_status, 'Shipped');
        assert.deepEqual(bureau.files(), []);
        assert.deepEqual(bureau.files('processed'), [name]);
        assert.deepEqual(inbox(scene), [], 'nothing left in the inbox, no clear report on disk');
        assert.deepEqual(archive(scene), [`${scene.sha256}.rsa`]);
        rmSync(workDir, { recursive: true, force: true });
      });
    });

    it('killed after the remote move, before recording it (\'after-remote-move\'): the next run records it; nothing stays pending', async function () {
      this.timeout(180_000);
      const { db, database } = ctx();
      const { workDir, config } = freshScene(database);
      const batch = await seedBatch(db, [900, 901]);
      const encrypted = encryptRsaReport(Buffer.from(xmlOf({ header: header(batch.fileName), rejections: [rejection(900)], shipments: [shipment(901, { shipped: '2026-11-26' })] })), ours.publicPem);
      const name = reportName();
      bureau.put(name, encrypted);
      const sha256 = createHash('sha256').update(encrypted).digest('hex');
      const child = await runUntilPaused(CHILD, { BX_CHILD_CONFIG: JSON.stringify(config), BX_PAUSE_AT: 'after-remote-move' }, 'after-remote-move');
      await child.kill();
      const row = () => db('bureau_reports').where({ sha256 }).select('state', 'remote_state');
      assert.deepEqual(await row(), [{ state: 'applied', remote_state: 'pending' }]);
      assert.deepEqual([bureau.files(), bureau.files('processed')], [[], [name]], 'the file moved: no later run downloads it again');
      await db('leases').update({ expires_at: Date.now() - 1 });

      const result = await makeReceiveJob({ db, config, log: silentLogger, transport: makeSftpTransport(config.sftp, { log: silentLogger }) }).run();
      assert.deepEqual([result.applied.length, result.duplicates, result.quarantined.length], [0, 0, 0]);
      assert.deepEqual(await row(), [{ state: 'applied', remote_state: 'processed' }], 'the move is recorded');
      for (const n of [900, 901]) assert.equal(await eventsOf({ db } as Scene, batch.ids.get(n)!), 1);
      rmSync(workDir, { recursive: true, force: true });
    });
  });
});
