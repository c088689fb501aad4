import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const HEAD = 'issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\n';

function writeConfig(yaml: string, dotenv?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bx-config-'));
  writeFileSync(join(dir, 'config.yaml'), HEAD + yaml);
  if (dotenv !== undefined) writeFileSync(join(dir, '.env'), dotenv, { mode: 0o600 });
  return join(dir, 'config.yaml');
}

const refused = (key: string, pattern: RegExp) => (err: Error) => {
  assert.ok(err instanceof ConfigError, err.message);
  assert.ok(err.message.includes(`${key}: `), `names ${key}: ${err.message}`);
  assert.match(err.message, pattern);
  return true;
};

describe('every config value is checked at load, naming its key', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['schedule: { timezone: Europe/Berln }', 'schedule.timezone', /unknown time zone "Europe\/Berln"/],
    ['calendar: { holidays: XX }', 'calendar.holidays', /unknown country code "XX"/],
    ['calendar: { holidays: DE-ZZ }', 'calendar.holidays', /no state or region "ZZ"/],
    ['calendar: { extraHolidays: ["2026-02-30"] }', 'calendar.extraHolidays', /"2026-02-30" is not a date/],
    ['calendar: { extraHolidays: ["2026-12-24"], extraBusinessDays: ["2026-12-24"] }', 'calendar', /both in extraHolidays and extraBusinessDays/],
    ['reports: { pattern: "^{issuer}_(" }', 'reports.pattern', /not a valid regular expression/],
    ['sftp: { retry: { baseDelayMs: 5000, maxDelayMs: 1000 } }', 'sftp.retry.baseDelayMs', /must not exceed maxDelayMs/],
    ['database: { pool: { min: 9, max: 2 } }', 'database.pool.min', /must not exceed max/],
    ['schedule: { sendAt: ["25:00"] }', 'schedule.sendAt[0]', /a time HH:MM/],
  ];
  for (const [yaml, key, pattern] of cases) {
    it(`${key}: ${yaml}`, () => {
      assert.throws(() => loadConfig(writeConfig(yaml + '\n'), {}), refused(key, pattern));
    });
  }

  it('accepts valid values (a zone, a region, real dates)', () => {
    const config = loadConfig(writeConfig('schedule: { timezone: America/New_York }\ncalendar: { holidays: DE-BY, extraHolidays: ["2028-02-29"] }\n'), {});
    assert.equal(config.schedule.timezone, 'America/New_York');
  });
});

describe('.env beside the config (dotenv)', () => {
  it('reads `export KEY=…`, comments after a value, quotes and multi-line values; the environment wins', () => {
    const file = writeConfig('', [
      '# a comment line',
      'export BX_EXPORTED=one',
      'BX_COMMENTED=two   # prod value',
      "BX_SINGLE='three # not a comment'",
      'BX_MULTI="line 1\nline 2"',
      'BX_SET=from-file',
    ].join('\n') + '\n');
    const env: NodeJS.ProcessEnv = { BX_SET: 'from-env' };
    loadConfig(file, env);
    assert.equal(env.BX_EXPORTED, 'one');
    assert.equal(env.BX_COMMENTED, 'two');
    assert.equal(env.BX_SINGLE, 'three # not a comment');
    assert.equal(env.BX_MULTI, 'line 1\nline 2');
    assert.equal(env.BX_SET, 'from-env');
  });
});
