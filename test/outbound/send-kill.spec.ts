import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PanCipher } from '../../src/security/pan.js';
import type { SendFaultPoint } from '../../src/outbound/send-job.js';
import { describeEachDatabase } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import type { ChildSpec } from './send-child.js';
import { clearSendTables, insertCards } from './fixtures.js';
import { removeDir, sendConfig, type BureauKeys } from './harness.js';
import { assertDeliveredExactlyOnce, sendJobFor, useSshdAndBureauKeys, withSftp } from './job-harness.js';

const CHILD = fileURLToPath(new URL('./send-child.ts', import.meta.url));
const LEASE_TTL_S = 5;

/** Runs the child until it kills itself; resolves with the signal that ended it. */
function runChild(spec: ChildSpec): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, BX_SEND_CHILD: JSON.stringify(spec) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal ? resolve(signal) : reject(new Error(`child exited ${code}: ${output}`))));
  });
}

async function runWhenLeaseFree<T>(run: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + (LEASE_TTL_S + 10) * 1000;
  for (;;) {
    try {
      return await run();
    } catch (err) {
      if (!/holds the send lease/.test(String(err)) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

describeEachDatabase('send job killed with SIGKILL, then restarted', (ctx) => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  useSshdAndBureauKeys((started) => {
    ({ sshd, keys } = started);
  });

  for (const killAt of ['encrypting', 'transferred'] as SendFaultPoint[]) {
    it(`killed at '${killAt}': after the lease expires the next run delivers every card exactly once`, async function () {
      this.timeout(60_000);
      const { db, database } = ctx();
      await clearSendTables(db);
      for (const name of readdirSync(join(sshd.root, 'inbound'))) rmSync(join(sshd.root, 'inbound', name), { force: true });
      const panKey = randomBytes(32);
      const cipher = new PanCipher(panKey);
      const base = withSftp(sendConfig(keys), sshd);
      const config = { ...base, database, daemon: { ...base.daemon, leaseTtlSeconds: LEASE_TTL_S }, perso: { ...base.perso, maxCardsPerFile: 3 } };
      await insertCards(db, cipher, 1, 5);
      assert.equal(await runChild({ config, panKey: panKey.toString('base64'), killAt, businessDate: '2026-11-26' }), 'SIGKILL');
      // the dead runner's lease blocks the restart until it expires
      const result = await runWhenLeaseFree(() => sendJobFor(db, cipher, config, sshd).run({ businessDate: '2026-11-26' }));
      assert.ok(result.cardsSent > 0);
      await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1002', '1003', '1004', '1005']);
      removeDir(config.workDir);
    });
  }
});
