import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { resolveBureauLayouts } from '../../src/config/bureau-layouts.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { nextSequence } from '../../src/db/claim.js';
import { canonicalId } from '../../src/domain/contract.js';
import { silentLogger } from '../../src/log.js';
import { bureauConfig } from '../../src/outbound/bureau-config.js';
import { sendEveryBureau, type BureauSendOutcome } from '../../src/outbound/every-bureau.js';
import { PanCipher } from '../../src/security/pan.js';
import { productionSendJobs } from '../../src/wiring.js';
import { testConfig } from '../helpers/config.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { freeLoopbackPort } from '../../src/sandbox/init.js';
import type { SshdServer } from '../helpers/sshd.js';
import { runUntilPaused, waitFor } from '../helpers/crash-child.js';
import type { BureausChildSpec } from './bureaus-child.js';
import type { SendPausePoint } from './send-child.js';
import { clearSendTables, inProductionEvents, insertCards } from './fixtures.js';
import { contractsByStatus, filesIn, removeDir, type BureauKeys } from './harness.js';
import { useTwoBureauServer } from './job-harness.js';

/** the PAN key of the cards, given to the crash child too */
const PAN_KEY = newPanKey();
const cipher = new PanCipher(PAN_KEY);
const DATE = '2026-11-26';
/** the second bureau's folders on the one test sshd (two bureaus on one server never share a folder) */
const EMB_IN = 'emb-in';
const EMB_OUT = 'emb-out';

/**
 * Two bureaus on one sshd, each with its own gpg key pair and folder: BUREAU01 (perso-v1, LF) takes
 * what no rule places, EMB01 (emb-v1, CRLF) the GOLD02 cards.
 */
function twoBureaus(sshd: SshdServer, keys: { b1: BureauKeys; emb: BureauKeys }, over: { routingDefault?: string | null; b1Port?: number } = {}): LoadedConfig {
  const workDir = mkdtempSync(join(tmpdir(), 'bx-bureaus-'));
  const retry = { attempts: 2, baseDelayMs: 20, maxDelayMs: 50 };
  const config = configSchema.parse({
    issuer: { code: 'BXISSUER' },
    workDir,
    calendar: { workingDays: [1, 2, 3, 4, 5, 6, 7] },
    perso: { maxCardsPerFile: 2 },
    bureaus: [
      {
        code: 'BUREAU01', layout: 'perso-v1',
        pgp: { bureauPublicKeyFile: keys.b1.publicKeyFile, bureauFingerprint: keys.b1.fingerprint },
        sftp: sshd.sftpConfig({ retry, ...(over.b1Port ? { port: over.b1Port } : {}) }),
      },
      {
        code: 'EMB01', layout: 'emb-v1',
        pgp: { bureauPublicKeyFile: keys.emb.publicKeyFile, bureauFingerprint: keys.emb.fingerprint },
        sftp: sshd.sftpConfig({ retry, inboundDir: `/${EMB_IN}`, outboundDir: `/${EMB_OUT}`, processedDir: `/${EMB_OUT}/done`, failedDir: `/${EMB_OUT}/failed` }),
      },
    ],
    routing: {
      rules: [{ bureau: 'EMB01', when: { productCode: 'GOLD02' } }],
      ...(over.routingDefault === null ? {} : { default: over.routingDefault ?? 'BUREAU01' }),
    },
  });
  resolveBureauLayouts(config, process.cwd(), true);
  return { ...config, configFile: join(workDir, 'config.yaml') };
}

/** The contract ids of a delivered file, read back by the bureau's own gpg. */
function contractsIn(keys: BureauKeys, file: string, layout: 'perso-v1' | 'emb-v1'): string[] {
  const lines = keys.gpg.gpgDecrypt(file).toString('latin1').split('\n').filter(Boolean);
  if (layout === 'perso-v1') return lines.filter((l) => l.startsWith('D')).map((l) => canonicalId(l.slice(8, 23)));
  assert.ok(lines.every((l) => l.endsWith('\r')), 'emb-v1 lines end in CRLF');
  return lines.filter((l) => l.startsWith('02')).map((l) => canonicalId(l.slice(88, 103)));
}

const BUREAUS_CHILD = fileURLToPath(new URL('./bureaus-child.ts', import.meta.url));
const KILL_POINTS: SendPausePoint[] = ['encrypting', 'claimed', 'encrypted', 'uploading', 'transferred', 'uploaded', 'confirming'];
/** the batch's state in the database when its run dies at each point */
const STATE_AT: Record<SendPausePoint, string> = {
  encrypting: 'claimed', claimed: 'claimed', encrypted: 'encrypted', uploading: 'encrypted', transferred: 'encrypted', uploaded: 'uploaded', confirming: 'uploaded',
};

/** Work a paused child started before its pause and that ends on its own: let it end before the kill, so the found state is one. */
async function settleAt(db: Knex, point: SendPausePoint): Promise<void> {
  if (point === 'encrypting') await waitFor('both claims to commit', async () => Number((await db('perso_batches').count({ n: '*' }))[0]!.n) === 2);
}

function sendAll(db: Knex, config: LoadedConfig): Promise<BureauSendOutcome[]> {
  const jobs = productionSendJobs({ config, db, cipher, log: silentLogger });
  return sendEveryBureau(jobs, { businessDate: DATE });
}

describeEachDatabase('send to several bureaus, routed by product, through a real sshd', (ctx) => {
  let sshd: SshdServer;
  let keys: { b1: BureauKeys; emb: BureauKeys };
  let config: LoadedConfig | undefined;

  useTwoBureauServer([EMB_IN, EMB_OUT], (server) => {
    ({ sshd, keys } = server);
  });
  beforeEach(async () => {
    await clearSendTables(ctx().db);
    for (const dir of ['inbound', EMB_IN]) {
      for (const name of readdirSync(join(sshd.root, dir))) rmSync(join(sshd.root, dir, name), { recursive: true, force: true });
    }
  });
  afterEach(() => {
    if (config) removeDir(config.workDir);
  });

  /** Every card of `b1` and `emb` in exactly one file of its own bureau, and InProduction with that bureau's code. */
  async function assertEachInItsBureau(db: Knex, expected: { b1: string[]; emb: string[] }): Promise<void> {
    const b1Files = filesIn(join(sshd.root, 'inbound'));
    const embFiles = filesIn(join(sshd.root, EMB_IN));
    assert.ok(b1Files.every((f) => /^BXISSUER_PERSO_20261126_\d{6}\.dat\.pgp$/.test(f)), b1Files.join(','));
    assert.ok(embFiles.every((f) => /^BXISSUER_EMB_20261126_\d{6}\.txt\.pgp$/.test(f)), embFiles.join(','));
    const b1Cards = b1Files.flatMap((f) => contractsIn(keys.b1, join(sshd.root, 'inbound', f), 'perso-v1'));
    const embCards = embFiles.flatMap((f) => contractsIn(keys.emb, join(sshd.root, EMB_IN, f), 'emb-v1'));
    assert.deepEqual(b1Cards.sort(), [...expected.b1].sort());
    assert.deepEqual(embCards.sort(), [...expected.emb].sort());
    const items = await db('batch_items as bi').join('perso_batches as b', 'b.id', 'bi.batch_id').join('card_contracts as c', 'c.id', 'bi.contract_id')
      .select('c.contract_number as contract', 'b.bureau_code as batchBureau', 'c.bureau_code as cardBureau', 'c.production_status as status');
    assert.equal(items.length, expected.b1.length + expected.emb.length, 'each card in exactly one batch');
    for (const item of items) {
      const bureau = expected.b1.includes(item.contract) ? 'BUREAU01' : 'EMB01';
      assert.deepEqual([item.contract, item.batchBureau, item.cardBureau, item.status], [item.contract, bureau, bureau, 'InProduction']);
    }
  }

  it('each card lands in exactly one file of exactly its bureau, sequences per bureau, each file read back by its bureau\'s gpg', async () => {
    const { db } = ctx();
    config = twoBureaus(sshd, keys);
    // interleaved, so each bureau's claim reads past the other's cards (two cards a file: several files each)
    await insertCards(db, cipher, 1, 9, (n) => ({ productCode: n % 3 === 0 ? 'GOLD02' : 'CLASSIC01' }));
    const outcomes = await sendAll(db, config);
    assert.deepEqual(outcomes.map((o) => [o.code, 'error' in o ? String(o.error) : o.result.batches.map((b) => [b.fileName, b.records, b.state])]), [
      ['BUREAU01', [1, 2, 3].map((s) => [`BXISSUER_PERSO_20261126_00000${s}.dat.pgp`, 2, 'sent'])],
      ['EMB01', [['BXISSUER_EMB_20261126_000001.txt.pgp', 2, 'sent'], ['BXISSUER_EMB_20261126_000002.txt.pgp', 1, 'sent']]],
    ]);
    await assertEachInItsBureau(db, { b1: ['1001', '1002', '1004', '1005', '1007', '1008'], emb: ['1003', '1006', '1009'] });
    assert.equal((await contractsByStatus(db)).Marked, undefined);
    // a second round finds nothing: no bureau's claim takes a card twice or loops on the other's
    const again = await sendAll(db, config);
    assert.deepEqual(again.map((o) => ('result' in o ? o.result.batches.length : o.error)), [0, 0]);
  });

  it('a card no rule places, with no default, is Invalid with the routing reason (once), and never sent', async () => {
    const { db } = ctx();
    config = twoBureaus(sshd, keys, { routingDefault: null });
    await insertCards(db, cipher, 1, 2, (n) => ({ productCode: n === 1 ? 'GOLD02' : 'PLATINUM9' }));
    const outcomes = await sendAll(db, config);
    const invalid = outcomes.flatMap((o) => ('result' in o ? o.result.invalid : []));
    assert.deepEqual(invalid.map((i) => i.contractNumber), ['1002']);
    assert.match(invalid[0]!.reason, /^routing: no rule matches \(productCode "PLATINUM9", .*\) and the routing has no default bureau$/);
    const row = await db('card_contracts').where({ contract_number: '1002' }).first();
    assert.deepEqual([row.production_status, row.reject_code], ['Invalid', 'INVALID']);
    assert.match(row.reject_reason, /^routing: no rule matches/);
    await assertEachInItsBureau(db, { b1: [], emb: ['1001'] });
  });

  it('one bureau\'s SFTP unreachable: the other\'s batch is delivered, and the failed one resumes to its own bureau later', async () => {
    const { db } = ctx();
    const down = twoBureaus(sshd, keys, { b1Port: await freeLoopbackPort() });
    config = down;
    await insertCards(db, cipher, 1, 4, (n) => ({ productCode: n % 2 === 0 ? 'GOLD02' : 'CLASSIC01' }));
    const outcomes = await sendAll(db, down);
    assert.equal(outcomes[0]!.code, 'BUREAU01');
    assert.ok('error' in outcomes[0]!, 'BUREAU01 failed');
    assert.ok('result' in outcomes[1]! && outcomes[1].result.cardsSent === 2, 'EMB01 sent its cards');
    assert.deepEqual(filesIn(join(sshd.root, 'inbound')), []);
    const stuck = await db('perso_batches').where({ bureau_code: 'BUREAU01' }).select('state');
    assert.deepEqual(stuck.map((b: { state: string }) => b.state), ['encrypted']);
    // EMB01 alone again: it does not pick up BUREAU01's unsent batch
    const embOnly = await sendEveryBureau(productionSendJobs({ config: down, db, cipher, log: silentLogger }).filter((j) => j.code === 'EMB01'), { businessDate: DATE });
    assert.deepEqual(embOnly.map((o) => ('result' in o ? o.result.batches.length : String(o.error))), [0]);
    // the server back: BUREAU01's batch goes to BUREAU01's folder
    const up = twoBureaus(sshd, keys);
    const resumed = await sendAll(db, { ...up, workDir: down.workDir });
    assert.deepEqual(resumed.map((o) => ('result' in o ? o.result.cardsSent : String(o.error))), [2, 0]);
    removeDir(up.workDir);
    await assertEachInItsBureau(db, { b1: ['1001', '1003'], emb: ['1002', '1004'] });
  });

  it('batches made before several bureaus (no bureau code) are the first bureau\'s: its daily sequence continues after them', async () => {
    const { db } = ctx();
    config = twoBureaus(sshd, keys);
    await db('perso_batches').insert({
      business_date: DATE, sequence: 1, file_name: 'BXISSUER_PERSO_20261126_000001.dat.pgp', state: 'sent',
      record_count: 0, hash_total: '0', attempts: 0, created_at: '2026-11-26T08:00:00.000Z', updated_at: '2026-11-26T08:00:00.000Z',
    });
    assert.equal(await nextSequence(db, DATE, bureauConfig(config, 'BUREAU01').scope), 2);
    assert.equal(await nextSequence(db, DATE, bureauConfig(config, 'EMB01').scope), 1);
    await insertCards(db, cipher, 1, 2, (n) => ({ productCode: n === 1 ? 'GOLD02' : 'CLASSIC01' }));
    const outcomes = await sendAll(db, config);
    assert.deepEqual(outcomes.map((o) => ('result' in o ? o.result.batches.map((b) => b.fileName) : String(o.error))), [
      ['BXISSUER_PERSO_20261126_000002.dat.pgp'], ['BXISSUER_EMB_20261126_000001.txt.pgp'],
    ]);
  });

  it('a card the bureau rejected, marked again, is routed again by the rules: to the other bureau once its product changed', async () => {
    const { db } = ctx();
    config = twoBureaus(sshd, keys);
    await insertCards(db, cipher, 1, 4, (n) => ({ productCode: n % 2 === 0 ? 'GOLD02' : 'CLASSIC01' }));
    await sendAll(db, config);
    await assertEachInItsBureau(db, { b1: ['1001', '1003'], emb: ['1002', '1004'] });
    // EMB01 rejected 1002 and 1004; the card system marks them again, 1002 now a standard card
    await db('card_contracts').whereIn('contract_number', ['1002', '1004']).update({ production_status: 'Rejected', reject_code: '021' });
    await db('card_contracts').where({ contract_number: '1002' }).update({ production_status: 'Marked', product_code: 'CLASSIC01' });
    await db('card_contracts').where({ contract_number: '1004' }).update({ production_status: 'Marked' });
    const again = await sendAll(db, config);
    assert.deepEqual(again.map((o) => [o.code, 'result' in o ? o.result.cardsSent : String(o.error)]), [['BUREAU01', 1], ['EMB01', 1]]);
    const b1 = filesIn(join(sshd.root, 'inbound')).map((f) => contractsIn(keys.b1, join(sshd.root, 'inbound', f), 'perso-v1'));
    const emb = filesIn(join(sshd.root, EMB_IN)).map((f) => contractsIn(keys.emb, join(sshd.root, EMB_IN, f), 'emb-v1'));
    assert.deepEqual(b1, [['1001', '1003'], ['1002']], 'the re-marked standard card went to BUREAU01');
    assert.deepEqual(emb, [['1002', '1004'], ['1004']], 'the re-marked premium card went to EMB01 again');
    const rows = await db('card_contracts').orderBy('contract_number').select('contract_number', 'bureau_code', 'production_status');
    assert.deepEqual(rows.map((r: any) => [r.contract_number, r.bureau_code, r.production_status]), [
      ['1001', 'BUREAU01', 'InProduction'], ['1002', 'BUREAU01', 'InProduction'], ['1003', 'BUREAU01', 'InProduction'], ['1004', 'EMB01', 'InProduction'],
    ], 'each card records the bureau that makes it now');
  });

  // Both bureaus' sends at once in one process (the daemon's lanes), each killed at the same state:
  // the restart must finish each batch at its own bureau and claim the rest, no card lost or in two files.
  for (const point of KILL_POINTS) {
    it(`two bureaus in flight, killed at '${point}': every card in exactly one file of exactly its bureau after the restart`, async function () {
      this.timeout(240_000);
      const { db, database, dialect } = ctx();
      config = { ...twoBureaus(sshd, keys), database };
      // three cards a bureau, two a file: a batch of each bureau in flight, one card left for the restart
      await insertCards(db, cipher, 1, 6, (n) => ({ productCode: n % 2 === 0 ? 'GOLD02' : 'CLASSIC01' }));
      // SQLite has one writer: a confirm held open keeps every other write out, so there the first
      // bureau stops just before its confirm and only EMB01's confirm is held open, once the first has
      // stopped (bureaus-child.ts: otherwise the first's last write could wait for the connection for ever)
      const pauseAt = { BUREAU01: point === 'confirming' && dialect === 'sqlite' ? 'uploaded' as const : point, EMB01: point };
      const spec: BureausChildSpec = { config, panKey: PAN_KEY.toString('base64'), pauseAt, businessDate: DATE };
      const child = await runUntilPaused(BUREAUS_CHILD, { BX_BUREAUS_CHILD: JSON.stringify(spec) }, Object.values(pauseAt));
      await settleAt(db, point);
      await child.kill();

      const found = await db('perso_batches').orderBy('bureau_code').select('bureau_code', 'state', 'file_name');
      assert.deepEqual(found.map((b: any) => [b.bureau_code, b.state]), [['BUREAU01', STATE_AT[point]], ['EMB01', STATE_AT[point]]], 'one batch of each bureau, in the state it died in');
      assert.deepEqual((await contractsByStatus(db)).InProduction, undefined, 'no card confirmed');
      const finalNames = [...filesIn(join(sshd.root, 'inbound')), ...filesIn(join(sshd.root, EMB_IN))].filter((f) => !f.endsWith('.part'));
      assert.deepEqual(finalNames.sort(), ['transferred', 'uploaded', 'confirming'].includes(point) ? found.map((b: any) => b.file_name).sort() : [], 'a final name only once uploaded');
      await db('leases').update({ expires_at: Date.now() - 1 }); // as if the dead run's leases had run out

      const restarted = await sendAll(db, config);
      assert.deepEqual(restarted.map((o) => [o.code, 'result' in o ? o.result.cardsSent : String(o.error)]), [['BUREAU01', 3], ['EMB01', 3]]);
      await assertEachInItsBureau(db, { b1: ['1001', '1003', '1005'], emb: ['1002', '1004', '1006'] });
      for (const [card, events] of await inProductionEvents(db)) assert.equal(events.length, 1, `card ${card}: one InProduction event`);
    });
  }

  it('the per-bureau view: the first bureau is the config itself; the other reads its own layout, keys, folder and lease', () => {
    config = twoBureaus(sshd, keys);
    const first = bureauConfig(config, 'BUREAU01');
    const emb = bureauConfig(config, 'EMB01');
    assert.equal(first.config, config);
    assert.deepEqual([first.lease, first.route?.bureau, first.workDir], ['send', 'BUREAU01', config.workDir]);
    assert.deepEqual([emb.lease, emb.config.sftp.inboundDir, emb.config.perso.fileNamePattern, emb.config.perso.lineEnding, emb.config.pgp.bureauFingerprint],
      ['send:EMB01', `/${EMB_IN}`, '{issuer}_EMB_{date}_{seq}.txt.pgp', 'CRLF', keys.emb.fingerprint]);
    assert.throws(() => bureauConfig(config!, 'NOPE'), /NOPE is not a configured bureau \(BUREAU01, EMB01\)/);
  });
});

describe('the per-bureau view of a single-bureau config', () => {
  it('is the config itself, under the `send` lease, and routes nothing per card', () => {
    const config = testConfig();
    const only = bureauConfig(config, 'BUREAU01');
    assert.equal(only.config, config);
    assert.deepEqual([only.lease, only.route, only.workDir, only.scope], ['send', undefined, config.workDir, { code: 'BUREAU01', first: true }]);
  });
});
