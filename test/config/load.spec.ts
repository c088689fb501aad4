import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config/load.js';
import { dataKeyFromEnv } from '../../src/config/secrets.js';
import { ConfigError } from '../../src/errors.js';

function writeConfig(yaml: string, dotenv?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bx-config-'));
  writeFileSync(join(dir, 'config.yaml'), yaml);
  if (dotenv !== undefined) writeFileSync(join(dir, '.env'), dotenv, { mode: 0o600 });
  return join(dir, 'config.yaml');
}

describe('config loading', () => {
  it('loads the shipped default config and resolves paths against its folder', () => {
    const config = loadConfig(DEFAULT_CONFIG_FILE, {});
    assert.equal(config.issuer.code, 'BXISSUER');
    assert.equal(config.database.client, 'sqlite');
    assert.ok(config.database.filename.endsWith('/var/bureau-exchange.sqlite'), config.database.filename);
    assert.equal(config.schedule.timezone, 'Europe/Berlin');
  });

  it('names the key and what is expected when a value is wrong', () => {
    const file = writeConfig('issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nsftp: { port: 70000 }\n');
    assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && /sftp\.port/.test(err.message));
  });

  it('names a missing required key', () => {
    const file = writeConfig('bureau: { code: BUREAU01 }\n');
    assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && /issuer/.test(err.message));
  });

  it('refuses unknown keys (typos) instead of ignoring them', () => {
    const file = writeConfig('issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nsftp: { hots: x }\n');
    assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && /sftp/.test(err.message) && /hots/.test(err.message));
  });

  it('reports invalid YAML with the file name and no stack', () => {
    const file = writeConfig('issuer: [unclosed\n');
    assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && err.message.includes(file));
  });

  it('reports a missing file', () => {
    assert.throws(() => loadConfig('/nonexistent/bx.yaml', {}), /does not exist/);
  });

  it('reads a .env beside the config without overriding the environment', () => {
    const file = writeConfig('issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\n', 'BX_A=fromfile\nBX_B="quoted"\n');
    const env: NodeJS.ProcessEnv = { BX_A: 'fromenv' };
    loadConfig(file, env);
    assert.equal(env.BX_A, 'fromenv');
    assert.equal(env.BX_B, 'quoted');
  });

  it('refuses a .env every user of the machine may read, naming it and its mode; the group may read it', () => {
    const file = writeConfig('issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\n', 'BX_A=secret\n');
    const dotenv = join(dirname(file), '.env');
    chmodSync(dotenv, 0o644);
    assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && err.message.includes(dotenv) && /every user of the machine \(mode 644\)/.test(err.message) && !err.message.includes('secret\n'));
    chmodSync(dotenv, 0o640);
    const env: NodeJS.ProcessEnv = {};
    loadConfig(file, env);
    assert.equal(env.BX_A, 'secret');
  });

  it('refuses a pool of one connection on PostgreSQL and MariaDB (the lease is renewed beside a transaction), not on SQLite', () => {
    for (const client of ['pg', 'mysql']) {
      const file = writeConfig(`issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\ndatabase: { client: ${client}, url: "x://h/db", pool: { max: 1 } }\n`);
      assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && /database\.pool\.max/.test(err.message) && /at least 2/.test(err.message), client);
    }
    const sqlite = writeConfig('issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\ndatabase: { client: sqlite, pool: { max: 1 } }\n');
    assert.equal(loadConfig(sqlite, {}).database.pool.max, 1);
  });

  it('takes the database URL from BX_DATABASE_URL', () => {
    const file = writeConfig('issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\n');
    const config = loadConfig(file, { BX_DATABASE_URL: 'postgres://u@h/db' });
    assert.equal(config.database.client, 'pg');
    assert.equal(config.database.url, 'postgres://u@h/db');
  });

  it('refuses a BX_DATABASE_URL of an unknown scheme (a typo) instead of quietly using a local SQLite file', () => {
    const file = writeConfig('issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\n');
    assert.throws(() => loadConfig(file, { BX_DATABASE_URL: 'postgress://u:s3cret@h/db' }),
      (err: Error) => err instanceof ConfigError && /BX_DATABASE_URL/.test(err.message) && /postgress:/.test(err.message) && !err.message.includes('s3cret'));
    assert.equal(loadConfig(file, { BX_DATABASE_URL: 'postgress://u@h/db', BX_DATABASE_CLIENT: 'pg' }).database.client, 'pg');
    assert.equal(loadConfig(file, { BX_DATABASE_URL: 'mariadb://u@h/db' }).database.client, 'mysql');
  });
});

describe('PAN data key from the environment', () => {
  it('refuses to start without a key, saying how to make one', () => {
    assert.throws(() => dataKeyFromEnv('BX_PAN_KEY', {}), (err: Error) => err instanceof ConfigError && /BX_PAN_KEY/.test(err.message) && /openssl rand/.test(err.message));
  });

  it('refuses a key of the wrong length', () => {
    assert.throws(() => dataKeyFromEnv('BX_PAN_KEY', { BX_PAN_KEY: Buffer.alloc(16).toString('base64') }), /32 bytes/);
  });

  it('accepts a 32-byte base64 key', () => {
    const key = Buffer.alloc(32, 7);
    assert.deepEqual(dataKeyFromEnv('BX_PAN_KEY', { BX_PAN_KEY: key.toString('base64') }), key);
  });
});
