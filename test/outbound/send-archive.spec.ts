import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { DATE, FIRST_FILE, insertCards } from './fixtures.js';
import { assertDeliveredExactlyOnce, sendJobFor, sendStoppedAt, useSendSuite } from './job-harness.js';
import { filesIn } from './harness.js';

/**
 * What the archive keeps: archive.retentionDays counts from the send (docs/configuration.md), not
 * from when the file was encrypted. Through the real job, a real sshd and gpg.
 */
const cipher = new PanCipher(newPanKey());
const DAY = 86_400_000;

describeEachDatabase('send job: the archive of a batch that waited', (ctx) => {
  const suite = useSendSuite(() => ctx().db);

  it('a file encrypted longer ago than the retention, sent now, is kept in the archive for the retention (0600)', async () => {
    const { db, sshd, keys } = suite();
    let { config } = suite();
    config = { ...config, archive: { retentionDays: 30 } };
    await insertCards(db, cipher, 1, 2);
    await sendStoppedAt(db, cipher, config, sshd, 'encrypted', DATE);
    // the batch waited 45 days in the outbox (its server down, a foreign file under its name…): same bytes, old time
    const waited = new Date(Date.now() - 45 * DAY);
    utimesSync(join(config.workDir, 'outbox', FIRST_FILE), waited, waited);
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.deepEqual(filesIn(join(config.workDir, 'archive')), [FIRST_FILE], 'the file just sent is kept');
    const archived = statSync(join(config.workDir, 'archive', FIRST_FILE));
    assert.equal(archived.mode & 0o777, 0o600);
    // it is now counted from its send: the next send's purge keeps it too
    await insertCards(db, cipher, 3, 1);
    await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.deepEqual(filesIn(join(config.workDir, 'archive')), [FIRST_FILE, 'BXISSUER_PERSO_20261126_000002.dat.pgp']);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003']);
  });
});

describeEachDatabase('send job: the archive on another disk than the outbox', (ctx) => {
  let mounted: string | undefined;

  // before the suite's own afterEach removes the work folder
  afterEach(() => {
    if (mounted) spawnSync('umount', [mounted]);
    mounted = undefined;
  });
  const suite = useSendSuite(() => ctx().db);

  it('a sent file is moved across disks (no rename there: EXDEV): the batch is confirmed, the archive keeps it (0600)', async function () {
    const { sshd, keys, config } = suite();
    const archive = join(config.workDir, 'archive');
    mkdirSync(archive, { mode: 0o700 });
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', archive]).status !== 0) {
      if (process.env.CI) throw new Error('CI requires mounting a small tmpfs to put the archive on another disk');
      this.skip();
    }
    mounted = archive;
    const { db } = ctx();
    await insertCards(db, cipher, 1, 2);
    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: DATE });
    assert.deepEqual(result.batches.map((b) => [b.fileName, b.state]), [[FIRST_FILE, 'sent']]);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002']);
    assert.deepEqual(filesIn(archive), [FIRST_FILE]);
    assert.equal(statSync(join(archive, FIRST_FILE)).mode & 0o777, 0o600);
    assert.equal((await db('perso_batches').first()).outbox_path, join(archive, FIRST_FILE));
  });
});
