import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { contractNumbers as ids, DATE, FIRST_FILE, insertCards } from './fixtures.js';
import { assertDeliveredExactlyOnce, remoteFiles, sendJobFor, useSendSuite } from './job-harness.js';
import { contractsByStatus, filesIn } from './harness.js';

/**
 * The outbox's disk full in the middle of a file (a small tmpfs as workDir): a local fault. The run
 * fails with the disk's error naming the file, no card leaves Marked, half a file is left neither in the outbox nor on
 * the server, and once there is room the next run delivers every card once.
 */
const cipher = new PanCipher(newPanKey());

describeEachDatabase('send job: the outbox disk full mid-file', (ctx) => {
  let disk: string | undefined;

  const suite = useSendSuite(() => ctx().db);
  afterEach(() => {
    if (disk) spawnSync('umount', [disk]);
    if (disk) rmSync(disk, { recursive: true, force: true });
    disk = undefined;
  });

  it('fails the run as ENOSPC, sends nothing, leaves no half file; with room again every card goes once', async function () {
    const { sshd, keys, config } = suite();
    disk = mkdtempSync(join(tmpdir(), 'bx-full-'));
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk]).status !== 0) {
      if (process.env.CI) throw new Error('CI requires mounting a small tmpfs to simulate a full disk');
      this.skip();
    }
    const full = { ...config, workDir: disk };
    // about 200 KB of records: more than the disk holds
    await insertCards(ctx().db, cipher, 1, 400);
    await assert.rejects(sendJobFor(ctx().db, cipher, full, sshd).run({ businessDate: DATE }), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'ENOSPC', 'still a system error: a local fault');
      assert.match(err.message, new RegExp(`${FIRST_FILE.replace(/\./g, '\\.')}\\.tmp`), 'names the file it was writing');
      return true;
    });
    // the claim rolled back, or (the disk filled after its commit) its batch waits as claimed, the failure on it
    for (const batch of await ctx().db('perso_batches').select('state', 'last_error')) {
      assert.equal(batch.state, 'claimed');
      assert.match(batch.last_error, new RegExp(`ENOSPC: no space left on device, write .*${join(disk, 'outbox', FIRST_FILE).replace(/\./g, '\\.')}\\.tmp`), 'names the file it was writing');
    }
    assert.deepEqual((await contractsByStatus(ctx().db)).Marked, ids(1, 400));
    assert.deepEqual(filesIn(join(disk, 'outbox')), [], 'no half-written file in the outbox');
    assert.deepEqual(remoteFiles(sshd), [], 'no .part on the server');
    assert.equal(spawnSync('mount', ['-o', 'remount,size=8m', disk]).status, 0);
    await sendJobFor(ctx().db, cipher, full, sshd).run({ businessDate: DATE });
    await assertDeliveredExactlyOnce(ctx().db, sshd, keys, full, ids(1, 400));
  });
});
