import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { userIds } from '../helpers/sshd.js';
import { DATE, FIRST_FILE, insertCards } from './fixtures.js';
import { assertDeliveredExactlyOnce, remoteFiles, sendJobFor, useSendSuite, withSftp } from './job-harness.js';
import { contractIdsOf, contractsByStatus, filesIn } from './harness.js';

/**
 * The send job's safety branches, each through the real job, a real sshd and gpg: a foreign file
 * under our final name is never overwritten, the archive keeps only its retention, and a signed file
 * encrypted also to the archive key is verified and read by gpg on both sides. These are file and
 * transport branches, the same on every database: SQLite only.
 */
const cipher = new PanCipher(newPanKey());
const DAY = 86_400_000;

describeEachDatabase('send job: safety branches', (ctx) => {
  const suite = useSendSuite(() => ctx().db);

  it('refuses to overwrite a file of another size under the final name: left alone, the batch waits, every run says so', async () => {
    const { db, sshd, keys, config } = suite();
    await insertCards(db, cipher, 1, 3);
    // somebody else's file, already under the name our first batch will have
    const foreign = join(sshd.root, 'inbound', FIRST_FILE);
    writeFileSync(foreign, 'not ours: 22 bytes....');
    const { uid, gid } = userIds('nobody');
    execFileSync('chown', [`${uid}:${gid}`, foreign]);
    for (let run = 1; run <= 2; run++) {
      await assert.rejects(sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE }),
        new RegExp(`/inbound/${FIRST_FILE.replace(/\./g, '\\.')} already exists on the server with 22 bytes \\(file\\), not the \\d+ bytes of batch \\d+: left alone, resolve by hand`));
      assert.equal(readFileSync(foreign, 'utf8'), 'not ours: 22 bytes....', `run ${run}: the foreign file is untouched`);
      assert.deepEqual(remoteFiles(sshd), [FIRST_FILE], `run ${run}: no .part, nothing else`);
      const batches = await db('perso_batches').select('file_name', 'state', 'attempts', 'last_error');
      assert.deepEqual(batches.map((b: any) => [b.file_name, b.state, Number(b.attempts)]), [[FIRST_FILE, 'encrypted', run]]);
      assert.match(batches[0].last_error, /already exists on the server with 22 bytes/);
      assert.deepEqual(await contractsByStatus(db), { Marked: ['1001', '1002', '1003'] }, 'the cards stay claimed by the waiting batch, none confirmed');
    }
    // the operator removes the foreign file: the next run delivers the batch, exactly once
    rmSync(foreign);
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003']);
  });

  it('purges archived files older than archive.retentionDays after a batch is sent, and only those', async () => {
    const { db, sshd } = suite();
    let { config } = suite();
    config = { ...config, archive: { retentionDays: 30 } };
    const archive = join(config.workDir, 'archive');
    mkdirSync(archive, { recursive: true });
    const aged = (name: string, days: number) => {
      const file = join(archive, name);
      writeFileSync(file, name);
      const t = new Date(Date.now() - days * DAY);
      utimesSync(file, t, t);
    };
    aged('BXISSUER_PERSO_20260901_000001.dat.pgp', 90);
    aged('BXISSUER_PERSO_20261025_000001.dat.pgp', 31);
    aged('BXISSUER_PERSO_20261028_000001.dat.pgp', 29);
    aged('BXISSUER_PERSO_20261125_000001.dat.pgp', 1);
    mkdirSync(join(archive, 'kept-by-hand'));
    utimesSync(join(archive, 'kept-by-hand'), new Date(Date.now() - 400 * DAY), new Date(Date.now() - 400 * DAY));
    await insertCards(db, cipher, 1, 2);
    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.deepEqual(result.batches.map((b) => [b.fileName, b.state]), [[FIRST_FILE, 'sent']]);
    assert.deepEqual(filesIn(archive), [
      'BXISSUER_PERSO_20261028_000001.dat.pgp', 'BXISSUER_PERSO_20261125_000001.dat.pgp', FIRST_FILE, 'kept-by-hand',
    ]);
  });

  describe('signed by the issuer and encrypted to the archive key too', () => {
    let issuer: GpgHome;
    let archiveHome: GpgHome;
    let signingFingerprint: string;
    let signed: Config['pgp'];

    before(() => {
      // the suite's bureau keys, and the pgp section each test's config starts with
      const { keys, config } = suite();
      issuer = createGpgHome();
      signingFingerprint = issuer.generateKey('Issuer signing <sign@example.test>');
      keys.gpg.importKey(issuer.exportPublicKey(signingFingerprint));
      archiveHome = createGpgHome();
      const archiveFingerprint = archiveHome.generateKey('Issuer archive <archive@example.test>', { algo: 'rsa2048' });
      archiveHome.importKey(issuer.exportPublicKey(signingFingerprint));
      signed = {
        ...config.pgp,
        archivePublicKeyFile: archiveHome.exportPublicKey(archiveFingerprint), archiveFingerprint,
        sign: { enabled: true, privateKeyFile: issuer.exportSecretKey(signingFingerprint), passphraseEnv: 'BX_TEST_UNSET_SIGN_PASSPHRASE' },
      };
    });
    after(() => {
      issuer?.cleanup();
      archiveHome?.cleanup();
    });

    it('the bureau verifies the signature with gpg; the archived copy decrypts with the archive key to the same records', async () => {
      const { db, sshd, keys } = suite();
      let { config } = suite();
      config = { ...config, pgp: signed };
      await insertCards(db, cipher, 1, 4);
      const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
      assert.deepEqual(result.batches.map((b) => [b.fileName, b.records, b.state]), [[FIRST_FILE, 4, 'sent']]);

      const delivered = keys.gpg.gpgDecryptWithStatus(join(sshd.root, 'inbound', FIRST_FILE));
      assert.ok(delivered.ok, delivered.stderr);
      assert.equal(delivered.status.match(/\[GNUPG:\] ENC_TO /g)?.length, 2, 'encrypted to the bureau and to the archive key');
      assert.match(delivered.status, /\[GNUPG:\] GOODSIG /);
      assert.match(delivered.status, new RegExp(`\\[GNUPG:\\] VALIDSIG ${signingFingerprint} `));
      assert.deepEqual(contractIdsOf(delivered.clear.toString('latin1').split('\n')), ['1001', '1002', '1003', '1004']);

      const archived = join(config.workDir, 'archive', FIRST_FILE);
      assert.ok(readFileSync(archived).equals(readFileSync(join(sshd.root, 'inbound', FIRST_FILE))), 'the archive holds the very file delivered');
      const ours = archiveHome.gpgDecryptWithStatus(archived);
      assert.ok(ours.ok, ours.stderr);
      assert.ok(ours.clear.equals(delivered.clear), 'the archive key reads the same records');
      assert.match(ours.status, new RegExp(`\\[GNUPG:\\] VALIDSIG ${signingFingerprint} `));
      // and the archive key alone is enough: the bureau's key is not in that home
      assert.doesNotMatch(ours.status, new RegExp(keys.fingerprint));
    });
  });
}, ['sqlite']);
