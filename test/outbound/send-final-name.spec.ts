import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { userIds } from '../helpers/sshd.js';
import { DATE, FIRST_FILE, insertCards } from './fixtures.js';
import { assertDeliveredExactlyOnce, remoteFiles, sendJobFor, sendStoppedAt, useSendSuite } from './job-harness.js';
import { contractsByStatus, makeBureauKeys, type BureauKeys } from './harness.js';

/**
 * A file already under the batch's final name with exactly the batch's size is not proof of delivery:
 * fixed-width records make every file of the same card count the same size. Only our own bytes
 * (the recorded SHA-256) are. Through the real job, a real sshd and gpg.
 */
const cipher = new PanCipher(newPanKey());

describeEachDatabase('send job: a file of our size under our final name', (ctx) => {
  const suite = useSendSuite(() => ctx().db);

  it('someone else\'s bytes of exactly the batch\'s size are left alone and the cards stay Marked; ours (a rename before a crash) count as delivered', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 3);
    await sendStoppedAt(db, cipher, config, sshd, 'encrypted', DATE);
    const batch = await db('perso_batches').first();
    assert.equal(batch.state, 'encrypted');
    // another file, byte for byte the size of ours, under our final name
    const foreign = join(sshd.root, 'inbound', FIRST_FILE);
    const bytes = randomBytes(Number(batch.enc_size));
    writeFileSync(foreign, bytes);
    const { uid, gid } = userIds('nobody');
    execFileSync('chown', [`${uid}:${gid}`, foreign]);
    for (let run = 1; run <= 2; run++) {
      await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }),
        new RegExp(`/inbound/${FIRST_FILE.replace(/\./g, '\\.')} already exists on the server with the ${batch.enc_size} bytes of batch \\d+ but other content \\(not the SHA-256 recorded for it\\): left alone, resolve by hand`));
      assert.deepEqual(readFileSync(foreign), bytes, `run ${run}: the foreign file is untouched`);
      assert.deepEqual(remoteFiles(sshd), [FIRST_FILE], `run ${run}: no .part, nothing else`);
      assert.equal((await db('perso_batches').first()).state, 'encrypted', `run ${run}: the batch waits`);
      assert.deepEqual(await contractsByStatus(db), { Marked: ['1001', '1002', '1003'] }, `run ${run}: no card confirmed by a file the bureau never got`);
    }
    // our own file under the final name (renamed, then the process died before it was recorded): delivered, not uploaded again
    writeFileSync(foreign, readFileSync(batch.outbox_path));
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003']);
  });
});

describeEachDatabase('send job: the bureau key changed while a batch waited in the outbox', (ctx) => {
  let next: BureauKeys;

  const suite = useSendSuite(() => ctx().db);
  before(() => {
    next = makeBureauKeys();
  });
  after(() => next?.gpg.cleanup());

  it('a file encrypted to the retired key is encrypted again to the configured one before upload: the bureau reads it', async () => {
    const { db, sshd, config } = suite();
    await insertCards(db, cipher, 1, 3);
    await sendStoppedAt(db, cipher, config, sshd, 'encrypted', DATE);
    assert.equal((await db('perso_batches').first()).state, 'encrypted');
    // the bureau rotated its key (the old one expired, was revoked or retired): the operator configures the new one
    const rotated = { ...config, pgp: { ...config.pgp, bureauPublicKeyFile: next.publicKeyFile, bureauFingerprint: next.fingerprint } };
    await sendJobFor(db, cipher, rotated, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, next, rotated, ['1001', '1002', '1003']);
  });

  it('a batch the bureau already has is confirmed though the bureau key expired since; only then is the run refused, before any claim', async () => {
    const { db, sshd, config } = suite();
    await insertCards(db, cipher, 1, 3);
    await sendStoppedAt(db, cipher, config, sshd, 'uploaded', DATE);
    assert.equal((await db('perso_batches').first()).state, 'uploaded');
    // two years on, the bureau's key (made to expire in one) has expired; a card was marked meanwhile
    await insertCards(db, cipher, 4, 1);
    const later = new Date(Date.now() + 2 * 365 * 86_400_000);
    await assert.rejects(sendJobFor(db, cipher, config, sshd, { clock: () => later }).run({ businessDate: DATE }), /expired/);
    const batches = await db('perso_batches').orderBy('id').select('file_name', 'state');
    assert.deepEqual(batches.map((b: any) => [b.file_name, b.state]), [[FIRST_FILE, 'sent']], 'the delivered batch confirmed, nothing new claimed');
    assert.deepEqual(await contractsByStatus(db), { InProduction: ['1001', '1002', '1003'], Marked: ['1004'] });
  });
});
