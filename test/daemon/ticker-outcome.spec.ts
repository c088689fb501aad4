import assert from 'node:assert/strict';
import { exitCodeOf } from '../../src/daemon/outcome.js';
import { startTicker } from '../../src/daemon/ticker.js';
import { silentLogger } from '../../src/log.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { runCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const DEFAULT_CONFIG = join(PROJECT_ROOT, 'config', 'default.yaml');

function configWithHolidays(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bx-cal-')), 'config.yaml');
  writeFileSync(file, 'issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\ncalendar: { holidays: DE-BY, extraBusinessDays: [2026-12-26] }\n');
  return file;
}

describe('ticker', () => {
  it('calls tick on its schedule and stops when asked', async function () {
    this.timeout(60_000);
    const ticks: number[] = [];
    const ticker = startTicker(() => ticks.push(Date.now()), silentLogger, 1000);
    await waitFor('three ticks', () => ticks.length >= 3);
    ticker.stop();
    const seen = ticks.length;
    // once a second, not faster: three ticks span two periods (less a late first tick)
    assert.ok(ticks[2]! - ticks[0]! >= 900, `ticks at ${ticks.join(', ')}`);
    // then none while more than two periods pass
    const stoppedAt = Date.now();
    await waitFor('two periods', () => Date.now() >= stoppedAt + 2500);
    assert.equal(ticks.length, seen, 'no tick after stop');
  });
});

describe('run-once exit code', () => {
  const send = (invalid = 0) => ({ result: { batches: [], cardsSent: 0, invalid: [], invalidTotal: invalid } });
  const receive = (quarantined = 0) => ({ result: { applied: [], quarantined: Array.from({ length: quarantined }, () => ({ remoteName: 'r', reason: 'x' })), duplicates: 0 } });

  it('0 when all went well, 3 when something was set aside, 1 when a job failed', () => {
    assert.equal(exitCodeOf({ send: send(), receive: receive() }), 0);
    assert.equal(exitCodeOf({ send: send(2), receive: receive() }), 3);
    assert.equal(exitCodeOf({ receive: receive(1) }), 3);
    assert.equal(exitCodeOf({ send: { error: 'boom' }, receive: receive(1) }), 1);
    assert.equal(exitCodeOf({ send: send(), receive: { error: 'boom' } }), 1);
  });
});

describe('calendar command', function () {
  this.timeout(30_000);
  it('prints the coming days and why the others are not business days', async () => {
    const { code, stdout } = await runCli(['calendar', '-c', configWithHolidays(), '--from', '2026-12-24', '--days', '4', '--json']);
    assert.equal(code, 0);
    const days = JSON.parse(stdout);
    assert.deepEqual(days.map((d: any) => [d.date, d.business, d.why]), [
      ['2026-12-24', 'yes', ''],
      ['2026-12-25', 'no', 'holiday: Christmas Day (DE-BY)'],
      ['2026-12-26', 'yes', ''], // a Saturday made a business day
      ['2026-12-27', 'no', 'Sunday'],
    ]);
  });

  it('refuses a bad date with exit 2', async () => {
    const { code, stderr } = await runCli(['calendar', '-c', DEFAULT_CONFIG, '--from', '2026-13-01']);
    assert.equal(code, 2);
    assert.match(stderr, /--from: "2026-13-01" is not a date/);
  });
});
