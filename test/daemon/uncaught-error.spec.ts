import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import knex from 'knex';

const CHILD = fileURLToPath(new URL('./crash-daemon-child.ts', import.meta.url));

/** Runs the crashing daemon on its own SQLite file until it exits; its output and the leases left. */
async function crashingDaemon(crash: 'throw' | 'reject') {
  const dir = mkdtempSync(join(tmpdir(), 'bx-crash-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify({
    issuer: { code: 'BXISSUER' }, bureau: { code: 'BUREAU01' }, workDir: join(dir, 'work'),
    calendar: { workingDays: [1, 2, 3, 4, 5, 6, 7] },
    schedule: { timezone: 'Europe/Berlin', sendAt: ['00:00'], receiveEveryMinutes: 1440, catchUp: false },
    daemon: { leaseTtlSeconds: 60, shutdownTimeoutSeconds: 10 },
  }));
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file], {
    env: { ...process.env, BX_CONFIG: '', BX_PAN_KEY: randomBytes(32).toString('base64'), BX_TEST_CRASH: crash }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const db = knex({ client: 'better-sqlite3', connection: { filename: join(dir, 'work', 'bureau-exchange.sqlite') }, useNullAsDefault: true });
  try {
    const leases = await db('leases').select('name');
    return { code, output, leases: leases.map((l: { name: string }) => l.name) };
  } finally {
    await db.destroy();
  }
}

describe('daemon: an error nothing catches (a bug)', function () {
  this.timeout(60_000);
  for (const crash of ['throw', 'reject'] as const) {
    it(`${crash === 'throw' ? 'thrown out of a timer' : 'a rejected promise nobody awaits'}: logged masked, lease given back, exit 1`, async () => {
      const { code, output, leases } = await crashingDaemon(crash);
      assert.equal(code, 1, output);
      assert.ok(!output.includes('4111111111111111'), `a clear PAN in the output:\n${output}`);
      assert.match(output, /"level":"fatal".*unexpected error: stopping/);
      assert.match(output, /daemon stopped/);
      assert.deepEqual(leases, [], 'the runner lease was given back: a standby takes over at once');
    });
  }
});
