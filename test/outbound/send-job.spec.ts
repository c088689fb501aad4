import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { batchContracts, unfinishedBatches } from '../../src/db/batches.js';
import type { SendFaultPoint } from '../../src/outbound/send-job.js';
import { JobProgress } from '../../src/progress/job-progress.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { silentLogger } from '../../src/log.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { contractNumbers as ids, DATE, inProductionEvents, insertCards } from './fixtures.js';
import { assertDeliveredExactlyOnce, failingUploads, remoteFiles, sendJobFor, sendStoppedAt, useSendSuite, withSftp } from './job-harness.js';
import { contractIdsOf, contractsByStatus, decryptedRecords, fileMaker, filesIn } from './harness.js';

const cipher = new PanCipher(newPanKey());

describeEachDatabase('send job through a real sshd', (ctx) => {
  const suite = useSendSuite(() => ctx().db);

  it('sends Marked physical cards in one file gpg reads; Invalid ones are set aside with their reason', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 5);
    await insertCards(db, cipher, 6, 1, () => ({ cardForm: 'virtual', psn: 1 }));
    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.deepEqual(result.batches, [{ fileName: 'BXISSUER_PERSO_20261126_000001.dat.pgp', records: 5, state: 'sent' }]);
    assert.equal(result.cardsSent, 5);
    assert.deepEqual(result.invalid.map((i) => [i.contractNumber, i.reason.split(':')[0]]), [['1006', 'cardForm']]);
    const lines = decryptedRecords(keys, join(sshd.root, 'inbound', result.batches[0]!.fileName));
    assert.match(lines[0]!, /^HPERSOREQBXISSUERBUREAU0120261126\d{6}000001/);
    assert.match(lines[lines.length - 1]!, /^T00000050000007/);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 5));
    assert.deepEqual((await contractsByStatus(db)).Invalid, ['1006']);
    assert.deepEqual(filesIn(join(config.workDir, 'archive')), [result.batches[0]!.fileName]);
    const history = [...(await inProductionEvents(db)).entries()];
    assert.deepEqual(history, ids(1, 5).map((id) => [id, [`Marked>batch:${result.batches[0]!.fileName}`]]), 'each card\'s history: made InProduction by the file, once');
  });

  it('a stored PAN that fails its integrity check makes its card Invalid; the rest of the batch is sent', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 4);
    const victim = await db('card_contracts').where({ contract_number: '1002' }).first();
    const packed = Buffer.from(victim.pan_enc.split(':')[2], 'base64');
    packed[14] = packed[14]! ^ 0x01; // one bit of the ciphertext
    const tampered = `${victim.pan_enc.split(':').slice(0, 2).join(':')}:${packed.toString('base64')}`;
    await db('card_contracts').where({ id: victim.id }).update({ pan_enc: tampered });
    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.equal(result.cardsSent, 3);
    assert.deepEqual(result.invalid.map((i) => [i.contractNumber, i.reason]), [['1002', "pan: stored PAN failed its integrity check: it is not this card's (moved from another row), was changed, or is under another key"]]);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1003', '1004']);
  });

  it('PANs under a key that is not configured fail the run before anything is claimed', async () => {
    const { db, sshd, config } = suite();
    await insertCards(db, new PanCipher(newPanKey()), 1, 2);
    await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }), /stored PAN is encrypted under key \w+, not the configured key/);
    assert.deepEqual((await contractsByStatus(db)).Marked, ['1001', '1002']);
    assert.equal(Number((await db('perso_batches').count({ n: '*' }).first())!.n), 0);
    assert.deepEqual(remoteFiles(sshd), []);
  });

  it('splits by perso.maxCardsPerFile and continues the daily sequence across runs', async () => {
    const { db, sshd, keys } = suite();
    let { config } = suite();
    config = { ...config, perso: { ...config.perso, maxCardsPerFile: 3 } };
    await insertCards(db, cipher, 1, 7);
    const progress = new JobProgress('send');
    const first = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE, progress });
    assert.deepEqual(first.batches.map((b) => [b.fileName.slice(-14), b.records]), [['000001.dat.pgp', 3], ['000002.dat.pgp', 3], ['000003.dat.pgp', 1]]);
    const shown = progress.snapshot();
    assert.deepEqual([shown.step, shown.done, shown.total], ['claiming and encrypting', 7, 7], 'every Marked card counted once across the three files');
    await insertCards(db, cipher, 8, 2);
    const second = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.deepEqual(second.batches.map((b) => b.fileName.slice(-14)), ['000004.dat.pgp']);
    const nothing = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.deepEqual(nothing.batches, []);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 9));
  });

  const points: SendFaultPoint[] = ['claimed', 'encrypting', 'encrypted', 'transferred', 'uploaded'];
  for (const point of points) {
    it(`a failure at '${point}' is resumed by the next run: every card exactly once`, async () => {
      const { db, sshd, keys } = suite();
      let { config } = suite();
      config = { ...config, perso: { ...config.perso, maxCardsPerFile: 4 } };
      await insertCards(db, cipher, 1, 6);
      let fired = 0;
      const faults = { at: (p: SendFaultPoint) => { if (p === point && fired++ === 0) throw new Error(`injected at ${p}`); } };
      await assert.rejects(sendJobFor(db, cipher, config, sshd, { faults }).run({ businessDate: DATE }), new RegExp(`injected at ${point}`));
      const failed = await db('perso_batches').orderBy('id').first();
      if (failed) {
        assert.equal(Number(failed.attempts), 1);
        assert.match(failed.last_error, /injected/);
      } else {
        // the file is built while the claim reads: a failure while encrypting, before the claim
        // committed, rolls the claim back (only there may no batch be left)
        assert.equal(point, 'encrypting', `no batch left after a failure at '${point}'`);
        assert.deepEqual((await contractsByStatus(db)).Marked, ids(1, 6), 'every card free again');
      }
      assert.deepEqual((await contractsByStatus(db)).InProduction, undefined, 'nothing confirmed yet');
      const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
      assert.equal(result.cardsSent, 6);
      await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 6));
      assert.equal(remoteFiles(sshd).length, 2);
    });
  }

  it('resumeOnly finishes an unfinished batch and claims nothing new', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 3);
    await sendStoppedAt(db, cipher, config, sshd, 'encrypted', DATE);
    await insertCards(db, cipher, 4, 2);
    const resumed = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE, resumeOnly: true });
    assert.deepEqual(resumed.batches.map((b) => [b.records, b.state]), [[3, 'sent']]);
    assert.deepEqual((await contractsByStatus(db)).Marked, ['1004', '1005'], 'cards marked since wait for the next cut-off');
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 5));
  });

  for (const how of ['mid-upload', 'before-rename'] as const) {
    it(`an upload that fails ${how} is redone by the next run; the partial file never becomes a delivery`, async () => {
      const { db, sshd, keys, config } = suite();
      await insertCards(db, cipher, 1, 4);
      const broken = failingUploads(makeSftpTransport(config.sftp, { log: silentLogger }), how);
      await assert.rejects(sendJobFor(db, cipher, config, sshd, { transport: broken }).run({ businessDate: DATE }), /injected/);
      assert.deepEqual(remoteFiles(sshd), ['BXISSUER_PERSO_20261126_000001.dat.pgp.part']);
      assert.equal((await db('perso_batches').first()).state, 'encrypted');
      await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
      await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 4));
    });
  }

  it('half-written outbox files of an interrupted run are removed', async () => {
    const { db, sshd, keys, config } = suite();
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(config.workDir, 'outbox'), { recursive: true });
    writeFileSync(join(config.workDir, 'outbox', 'BXISSUER_PERSO_20261125_000007.dat.pgp.tmp'), 'partial');
    await insertCards(db, cipher, 1, 1);
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 1));
  });

  it('a lost outbox file is encrypted again before upload', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 2);
    await sendStoppedAt(db, cipher, config, sshd, 'encrypted', DATE);
    rmSync(join(config.workDir, 'outbox'), { recursive: true });
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1, 2));
  });

  it('the file thread renders the bytes a re-render of the batch makes here, across pages and set-aside cards', async () => {
    const { db, sshd, config } = suite();
    await insertCards(db, cipher, 1, 1200, (n) => ({
      ...(n % 5 === 0 ? { firstName: 'Zoë', lastName: 'Ñúñez-O\'Brien' } : {}),
      ...(n % 97 === 0 ? { country: 'XXX' } : {}),
    }));
    await sendStoppedAt(db, cipher, config, sshd, 'encrypted', DATE);
    const [batch] = await unfinishedBatches(db);
    assert.equal(batch!.state, 'encrypted');
    assert.equal(batch!.recordCount, 1200 - 12, 'twelve cards with an unknown country set aside');
    const identity = { businessDate: batch!.businessDate, sequence: batch!.sequence, createdAt: new Date(batch!.createdAt) };
    const again = (await fileMaker(config)).render(identity, batchContracts(db, batch!.id, cipher));
    const sha256 = createHash('sha256');
    for await (const chunk of again.clear) sha256.update(chunk as Buffer);
    assert.equal(sha256.digest('hex'), batch!.clearSha256);
    assert.deepEqual(again.totals(), { records: batch!.recordCount, hashTotal: batch!.hashTotal });
  });

  it('a first page of Invalid cards only, then valid ones: the valid ones are sent', async () => {
    const { db, sshd, keys, config } = suite();
    // more than a claim page (1000 on SQLite, 500 elsewhere) of cards to set aside, then two to send
    await insertCards(db, cipher, 1, 1001, () => ({ country: 'XXX' }));
    await insertCards(db, cipher, 1002, 2);
    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.equal(result.invalidTotal, 1001);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ids(1002, 2));
  });

  it('wrong host key: refused with a clear error, nothing sent', async () => {
    const { db, sshd } = suite();
    let { config } = suite();
    await insertCards(db, cipher, 1, 2);
    config = withSftp(config, sshd, { hostKeySha256: 'SHA256:' + 'A'.repeat(43) });
    await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }), /host key/i);
    await assertNothingSent(db);
  });

  it('wrong bureau fingerprint: refused before anything is claimed', async () => {
    const { db, sshd } = suite();
    let { config } = suite();
    await insertCards(db, cipher, 1, 2);
    config = { ...config, pgp: { ...config.pgp, bureauFingerprint: 'AAAA'.repeat(10) } };
    await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }), /does not match the pinned/);
    assert.equal(Number((await db('perso_batches').count({ n: '*' }))[0]!.n), 0);
    assert.deepEqual((await contractsByStatus(db)).Marked, ids(1, 2));
  });

  it('unreachable server: a clear error after the retries, nothing sent; the next run delivers', async () => {
    const { db, sshd, keys } = suite();
    let { config } = suite();
    await insertCards(db, cipher, 1, 2);
    const good = config;
    config = withSftp(config, sshd, { port: 1, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } });
    await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }), /ECONNREFUSED|refused|connect/i);
    await assertNothingSent(db);
    await sendJobFor(db, cipher, good, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, good, ids(1, 2));
  });

  it('read-only remote folder: a clear error, nothing marked sent', async () => {
    const { db, sshd } = suite();
    let { config } = suite();
    await insertCards(db, cipher, 1, 2);
    config = withSftp(config, sshd, { inboundDir: '/readonly' });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(sshd.root, 'readonly'), { recursive: true, mode: 0o755 }); // owned by root: the SFTP user cannot write
    await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }), /permission|denied|read-only/i);
    await assertNothingSent(db);
  });

  it('dry run renders and counts, changes nothing and uploads nothing', async () => {
    const { db, sshd } = suite();
    let { config } = suite();
    config = { ...config, perso: { ...config.perso, maxCardsPerFile: 2 } };
    await insertCards(db, cipher, 1, 3);
    await insertCards(db, cipher, 4, 1, () => ({ country: 'XX' }));
    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE, dryRun: true });
    assert.deepEqual(result.batches.map((b) => [b.fileName.slice(-14), b.records, b.state]), [['000001.dat.pgp', 2, 'dry-run'], ['000002.dat.pgp', 1, 'dry-run']]);
    assert.deepEqual(result.invalid.map((i) => i.contractNumber), ['1004']);
    assert.match(result.invalid[0]!.reason, /^country/);
    assert.deepEqual((await contractsByStatus(db)).Marked, ids(1, 4));
    assert.equal(Number((await db('perso_batches').count({ n: '*' }))[0]!.n), 0);
    assert.deepEqual(remoteFiles(sshd), []);
  });

  it('not a business day: nothing new is claimed unless forced', async () => {
    const { db, sshd } = suite();
    let { config } = suite();
    config = { ...config, calendar: { ...config.calendar, workingDays: [1, 2, 3, 4, 5] } };
    await insertCards(db, cipher, 1, 1);
    const saturday = await sendJobFor(db, cipher, config, sshd).run({ businessDate: '2026-11-28' });
    assert.equal(saturday.notBusinessDay, 'Saturday');
    assert.deepEqual(remoteFiles(sshd), []);
    const forced = await sendJobFor(db, cipher, config, sshd).run({ businessDate: '2026-11-28', force: true });
    assert.deepEqual(forced.batches.map((b) => b.fileName), ['BXISSUER_PERSO_20261128_000001.dat.pgp']);
  });

  it('one runner at a time: a second run while the lease is held is refused', async () => {
    const { db, sshd, config } = suite();
    const { acquireLease } = await import('../../src/db/lease.js');
    assert.equal(await acquireLease(db, 'send', 'other-host:1:x', 60_000), true);
    await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }), /another runner holds the send lease \(other-host/);
  });

  async function assertNothingSent(db: import('knex').Knex): Promise<void> {
    assert.deepEqual(remoteFiles(suite().sshd).filter((n) => n.endsWith('.dat.pgp')), []);
    const states = await db('perso_batches').select('state', 'attempts', 'last_error');
    // the one batch was claimed and encrypted, then failed once at the upload, its error recorded
    assert.deepEqual(states.map((s: any) => [s.state, Number(s.attempts), typeof s.last_error === 'string' && s.last_error.length > 0]), [['encrypted', 1, true]], JSON.stringify(states));
    assert.equal((await contractsByStatus(db)).InProduction, undefined);
  }
});
