import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfig, REQUIRED_KEYS, requireKeys } from '../../src/config/load.js';
import { bureauView } from '../../src/config/bureau-view.js';
import { ConfigError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';

// Hostile or mistaken config files: each is refused at load with the file and the key path named,
// never accepted to fail at run time, and never quoting a secret.

const HEAD = 'issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\n';
const FPR = 'AB12'.repeat(10);
const HOST_KEY = `SHA256:${'A'.repeat(43)}`;
/** Node's longest timer: a longer one fires after 1 ms */
const NODE_TIMER_MAX_MS = 2 ** 31 - 1;

describe('config: hostile and mistaken files', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bx-hostile-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (content: string | Buffer, name = 'config.yaml') => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  const refused = (file: string, key: string, pattern: RegExp, env: NodeJS.ProcessEnv = {}) => {
    assert.throws(() => loadConfig(file, env), (err: Error) => {
      assert.ok(err instanceof ConfigError, `${err.name}: ${err.message}`);
      assert.ok(err.message.includes(file), `names the file: ${err.message}`);
      assert.ok(err.message.includes(`${key}: `), `names ${key}: ${err.message}`);
      assert.match(err.message, pattern);
      return true;
    });
  };

  describe('values that failed only when used', () => {
    // before: each loaded, and setTimeout ran the timer after 1 ms (TimeoutOverflowWarning)
    const timers: Array<[string, string, number]> = [
      ['daemon.leaseTtlSeconds', 'daemon: { leaseTtlSeconds: N }', 1000 / 3],
      ['daemon.shutdownTimeoutSeconds', 'daemon: { shutdownTimeoutSeconds: N }', 1000],
      ['sftp.readyTimeoutMs', 'sftp: { readyTimeoutMs: N }', 1],
      ['sftp.keepaliveIntervalMs', 'sftp: { keepaliveIntervalMs: N }', 1],
      ['sftp.retry.maxDelayMs', 'sftp: { retry: { baseDelayMs: 0, maxDelayMs: N } }', 1],
    ];
    for (const [key, yaml, toMs] of timers) {
      it(`${key}: whatever the number, a value loaded makes a timer Node can run (property)`, () => {
        fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 45 }), (n) => {
          const file = write(HEAD + yaml.replace('N', String(n)) + '\n');
          let value: number;
          try {
            const config = loadConfig(file, {}) as unknown as Record<string, any>;
            value = key.split('.').reduce((o, k) => o[k], config) as unknown as number;
          } catch (err) {
            assert.ok(err instanceof ConfigError && err.message.includes(`${key}: `), (err as Error).message);
            return;
          }
          assert.ok(value * toMs <= NODE_TIMER_MAX_MS, `${key} ${value} loaded`);
        }), { numRuns: 40 });
      });
    }

    it('refuses an SFTP host written as a URL, with a user, a port or a space (every connection failed, after the claim)', () => {
      for (const host of ['sftp://sftp.example', 'bx@sftp.example', 'sftp.example:2222', ' sftp.example', 'sftp.example/inbound', 'sftp example']) {
        refused(write(HEAD + `sftp: { host: "${host}" }\n`), 'sftp.host', /a host name or IP address alone/);
      }
      refused(write(HEAD + 'http: { enabled: true, host: "localhost:9464" }\n'), 'http.host', /a host name or IP address alone/);
      for (const host of ['sftp.bureau.example', '10.1.2.3', '::1', 'fe80::1', 'sftp-01', 'sftp.éxample']) {
        assert.equal(loadConfig(write(HEAD + `sftp: { host: "${host}" }\n`), {}).sftp.host, host);
      }
      fc.assert(fc.property(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }), (host) => {
        let loaded: boolean;
        try {
          loaded = loadConfig(write(HEAD + `sftp: { host: ${JSON.stringify(host)} }\n`), {}).sftp.host === host;
        } catch (err) {
          assert.ok(err instanceof ConfigError && err.message.includes('sftp.host: '), (err as Error).message);
          loaded = false;
        }
        if (loaded) assert.ok(isIP(host) === 6 || !/[:@/\s]/.test(host), JSON.stringify(host));
      }), { numRuns: 100 });
    });

    it('refuses a cut-off given twice (a second file was sent at that minute), naming it', () => {
      refused(write(HEAD + 'schedule: { sendAt: ["11:00", "17:00", "17:00"] }\n'), 'schedule.sendAt[2]', /17:00 is also cut-off 1/);
      refused(write('issuer: { code: BXISSUER }\nbureaus:\n  - { code: B1, sendAt: ["09:00", "09:00"] }\n'), 'bureaus[0].sendAt[1]', /also cut-off 0/);
    });

    it('refuses a receive time limit the second look alone uses up (every run that found a report timed out)', () => {
      refused(write(HEAD + 'reports: { stableCheckSeconds: 30, runTimeLimitSeconds: 20, reportTimeLimitSeconds: 10 }\n'), 'reports.stableCheckSeconds', /less than runTimeLimitSeconds/);
      refused(write('issuer: { code: BXISSUER }\nbureaus:\n  - { code: B1, reports: { stableCheckSeconds: 5, runTimeLimitSeconds: 5, reportTimeLimitSeconds: 5 } }\n'), 'bureaus[0].reports.stableCheckSeconds', /less than/);
      assert.ok(loadConfig(write(HEAD + 'reports: { stableCheckSeconds: 0, runTimeLimitSeconds: 0.5, reportTimeLimitSeconds: 0.5 }\n'), {}));
    });

    it('bounds the alert retries (waits of 1, 2, 4 … s) and the decryption threads', () => {
      refused(write(HEAD + 'alerts: { retries: 40 }\n'), 'alerts.retries', /less than or equal to 10|<=10/);
      assert.equal(loadConfig(write(HEAD + 'alerts: { retries: 10 }\n'), {}).alerts.retries, 10);
      refused(write(HEAD + 'reports: { decryptWorkers: 100000 }\n'), 'reports.decryptWorkers', /256/);
      refused(write(HEAD + 'sftp: { retry: { attempts: 1000000 } }\n'), 'sftp.retry.attempts', /100/);
    });

    it('refuses an alert webhook that is not http(s), without quoting it (it may hold a password)', () => {
      for (const url of ['file:///etc/passwd', 'mailto:ops@example.test', 'javascript:alert(1)', 'ftp://u:s3cret@host/x']) {
        const file = write(HEAD + `alerts: { webhookUrl: "${url}" }\n`);
        refused(file, 'alerts.webhookUrl', /http:\/\/ or https:\/\/ URL/);
        assert.throws(() => loadConfig(file, {}), (err: Error) => !err.message.includes('s3cret') && !err.message.includes(url));
      }
      assert.equal(loadConfig(write(HEAD + 'alerts: { webhookUrl: "https://u:tok@hooks.example.test/x" }\n'), {}).alerts.webhookUrl, 'https://u:tok@hooks.example.test/x');
      // basic authentication over plain http sent the password in clear at every alert
      const clear = write(HEAD + 'alerts: { webhookUrl: "http://u:tok3n@hooks.example.test/x" }\n');
      refused(clear, 'alerts.webhookUrl', /only with https/);
      assert.throws(() => loadConfig(clear, {}), (err: Error) => !err.message.includes('tok3n'));
      assert.ok(loadConfig(write(HEAD + 'alerts: { webhookUrl: "http://127.0.0.1:8080/x" }\n'), {}));
      assert.ok(loadConfig(write(HEAD + 'alerts: { webhookUrl: "http://u:tok@localhost:8080/x" }\n'), {}));
    });

    it('refuses database.url without a client: it was ignored and a fresh local SQLite file used', () => {
      const file = write(HEAD + 'database: { url: "postgres://bx:pw@db.example/bureau" }\n');
      refused(file, 'database.url', /client pg or mysql/);
      assert.throws(() => loadConfig(file, {}), (err: Error) => !err.message.includes('pw@'));
      assert.equal(loadConfig(write(HEAD + 'database: { client: pg, url: "postgres://bx@db.example/bureau" }\n'), {}).database.client, 'pg');
    });

    it('refuses a pinned OpenPGP fingerprint that could never match a key (it failed at the first send)', () => {
      refused(write(HEAD + 'pgp: { bureauFingerprint: "not hex" }\n'), 'pgp.bureauFingerprint', /40 hex digits/);
      refused(write(HEAD + `pgp: { archivePublicKeyFile: a.asc, archiveFingerprint: "${FPR.slice(2)}" }\n`), 'pgp.archiveFingerprint', /40 hex digits/);
      const spaced = FPR.match(/..../g)!.join(' ');
      assert.equal(loadConfig(write(HEAD + `pgp: { bureauFingerprint: "${spaced}" }\n`), {}).pgp.bureauFingerprint, spaced);
      assert.ok(loadConfig(write(HEAD + `pgp: { bureauFingerprint: "0x${'c'.repeat(64)}" }\n`), {}));
    });

    it('refuses keys that need another beside them, naming the bureau\'s key path', () => {
      refused(write(HEAD + 'pgp: { sign: { enabled: true } }\n'), 'pgp.sign.privateKeyFile', /required when pgp\.sign\.enabled/);
      refused(write(HEAD + 'pgp: { archivePublicKeyFile: keys/archive.asc }\n'), 'pgp.archiveFingerprint', /required when pgp\.archivePublicKeyFile/);
      // before: no file was encrypted to the archive key, and nothing said so
      refused(write(HEAD + `pgp: { archiveFingerprint: "${FPR}" }\n`), 'pgp.archivePublicKeyFile', /no file is encrypted to the archive key/);
      const two = `issuer: { code: BXISSUER }
routing: { default: B1 }
bureaus:
  - { code: B1, fileNamePattern: "{issuer}_A_{date}_{seq}.pgp" }
  - { code: B2, fileNamePattern: "{issuer}_B_{date}_{seq}.pgp", pgp: { sign: { enabled: true } } }
`;
      refused(write(two), 'bureaus[1].pgp.sign.privateKeyFile', /required when pgp\.sign\.enabled/);
    });

    it('a key a job needs, missing from a bureau after the first, is named as written: bureaus[1].sftp.host of the file', () => {
      const file = write(`issuer: { code: BXISSUER }
routing: { default: B1 }
bureaus:
  - { code: B1, fileNamePattern: "{issuer}_A_{date}_{seq}.pgp", sftp: { host: a.example, username: bx, hostKeySha256: "${HOST_KEY}" } }
  - { code: B2, fileNamePattern: "{issuer}_B_{date}_{seq}.pgp", sftp: { username: bx, hostKeySha256: "${HOST_KEY}", inboundDir: /b-in, outboundDir: /b-out } }
`);
      const config = loadConfig(file, {});
      requireKeys(bureauView(config, 'B1').config, REQUIRED_KEYS.sftp, 'send');
      // before: "config key sftp.host is required for send", the first bureau's key, which was there
      assert.throws(() => requireKeys(bureauView(config, 'B2').config, REQUIRED_KEYS.sftp, 'send'),
        (err: Error) => err instanceof ConfigError && err.message.startsWith(`config file ${file}: bureaus[1].sftp.host: `) && /sftp\.host is required for send/.test(err.message));
    });
  });

  describe('empty values, ~ and the database variables', () => {
    it('refuses an empty value: http.host "" listened on every interface, an empty key path was the config folder', () => {
      for (const [yaml, key] of [
        ['http: { enabled: true, host: "" }', 'http.host'], ['sftp: { privateKeyFile: "" }', 'sftp.privateKeyFile'],
        ['pgp: { bureauPublicKeyFile: "" }', 'pgp.bureauPublicKeyFile'], ['sftp: { inboundDir: "" }', 'sftp.inboundDir'],
        ['workDir: ""', 'workDir'], ['database: { filename: "" }', 'database.filename'],
        // "" meant no holidays (25 December a business day) and a pattern that matched every file name
        ['calendar: { holidays: "" }', 'calendar.holidays'], ['reports: { pattern: "" }', 'reports.pattern'],
      ]) refused(write(HEAD + yaml + '\n'), key!, /empty: give a value/);
    });

    it('refuses ${VAR} in a value: nothing is expanded, and the text itself was used at the first connection', () => {
      refused(write(HEAD + 'sftp: { host: sftp.example, username: "${SFTP_USER}" }\n'), 'sftp.username', /\$\{SFTP_USER\}: the config is not expanded/);
      const url = write(HEAD + 'database: { client: pg, url: "postgres://bx:S3cret@${DB_HOST}/bureau" }\n');
      refused(url, 'database.url', /\$\{DB_HOST\}: the config is not expanded/);
      assert.throws(() => loadConfig(url, {}), (err: Error) => !err.message.includes('S3cret'));
      refused(write(`issuer: { code: BXISSUER }\nbureaus:\n  - { code: B1, pgp: { bureauPublicKeyFile: "\${KEYS}/b1.asc" } }\n`), 'bureaus[0].pgp.bureauPublicKeyFile', /not expanded/);
    });

    it('refuses a path starting with ~ (no shell expands it), naming the bureau\'s key', () => {
      refused(write(HEAD + 'sftp: { privateKeyFile: ~/.ssh/id_ed25519 }\n'), 'sftp.privateKeyFile', /~ is not expanded/);
      refused(write(HEAD + 'database: { filename: ~/bx.sqlite }\n'), 'database.filename', /~ is not expanded/);
      refused(write(`issuer: { code: BXISSUER }
routing: { default: B1 }
bureaus:
  - { code: B1, fileNamePattern: "{issuer}_A_{date}_{seq}.pgp" }
  - { code: B2, fileNamePattern: "{issuer}_B_{date}_{seq}.pgp", reports: { rsaPrivateKeyFile: "~bx/keys/rsa.pem" } }
`), 'bureaus[1].reports.rsaPrivateKeyFile', /~ is not expanded/);
    });

    it('refuses BX_DATABASE_CLIENT of an unknown client, or without BX_DATABASE_URL (it was ignored: SQLite was used)', () => {
      const file = write(HEAD);
      const variable = (env: NodeJS.ProcessEnv, pattern: RegExp) => assert.throws(() => loadConfig(file, env),
        (err: Error) => err instanceof ConfigError && err.message.startsWith('environment variable BX_DATABASE_CLIENT') && pattern.test(err.message));
      variable({ BX_DATABASE_CLIENT: 'postgres', BX_DATABASE_URL: 'postgres://u:pw@h/db' }, /"postgres" is not sqlite, pg or mysql/);
      variable({ BX_DATABASE_CLIENT: 'pg' }, /read only with BX_DATABASE_URL/);
      assert.equal(loadConfig(file, { BX_DATABASE_CLIENT: 'mysql', BX_DATABASE_URL: 'tcp://u@h/db' }).database.client, 'mysql');
    });
  });

  describe('SFTP folders of bureaus on one server', () => {
    const twoOnOneServer = (b1: string, b2: string) => write(`issuer: { code: BXISSUER }
routing: { default: B1 }
bureaus:
  - { code: B1, fileNamePattern: "{issuer}_A_{date}_{seq}.pgp", sftp: { host: sftp.example, ${b1} } }
  - { code: B2, fileNamePattern: "{issuer}_B_{date}_{seq}.pgp", sftp: { host: SFTP.example, ${b2} } }
`);

    it('refuses a processedDir or failedDir that is a bureau\'s inbound or outbound folder (its reports reached the other bureau)', () => {
      // before: B2's applied reports were moved into B1's upload folder, for bureau B1 to read
      refused(twoOnOneServer('', 'inboundDir: /b-in, outboundDir: /b-out, processedDir: //inbound/./'), 'bureaus[1].sftp.processedDir', /is also a folder of bureaus\[0\] \(its inboundDir\)/);
      refused(twoOnOneServer('', 'inboundDir: /b-in, outboundDir: /b-out, failedDir: /outbound'), 'bureaus[1].sftp.failedDir', /bureaus\[0\] \(its outboundDir\)/);
      refused(write(HEAD + 'sftp: { host: sftp.example, failedDir: /outbound/ }\n'), 'sftp.failedDir', /is also this bureau's outboundDir/);
      // shared processed and failed folders stay allowed (a report moved there takes a suffix), and a processedDir unused with delete
      assert.ok(loadConfig(twoOnOneServer('', 'inboundDir: /b-in, outboundDir: /b-out'), {}));
      assert.ok(loadConfig(write(HEAD + 'sftp: { host: sftp.example, afterApply: delete, processedDir: /outbound }\n'), {}));
    });

    it('whatever the folders, a config that loads never has an inbound or outbound folder used twice (property)', () => {
      const folder = fc.constantFrom('/a', '/a/', '//a', '/b', '/b/.', '/c', '/d', '/e', '/f', '/g', '/h');
      const keys = ['inboundDir', 'outboundDir', 'processedDir', 'failedDir'];
      fc.assert(fc.property(fc.array(folder, { minLength: 8, maxLength: 8 }), (dirs) => {
        const yaml = (from: number) => keys.map((k, j) => `${k}: "${dirs[from + j]}"`).join(', ');
        let loaded = true;
        try {
          loadConfig(twoOnOneServer(yaml(0), yaml(4)), {});
        } catch (err) {
          assert.ok(err instanceof ConfigError && /bureaus\[[01]\]\.sftp\.\w+Dir: /.test(err.message), (err as Error).message);
          loaded = false;
        }
        const place = (d: string) => d.replace(/\/\.$/, '').replace(/\/+$/, '').replace(/^\/+/, '/');
        const exclusive = [0, 1, 4, 5].map((j) => place(dirs[j]!));
        const all = dirs.map(place);
        const clash = exclusive.some((p) => all.filter((q) => q === p).length > 1);
        assert.equal(loaded, !clash, dirs.join(' '));
      }), { numRuns: 150 });
    });
  });

  describe('the file itself', () => {
    it('refuses a config file every user may write (it holds the pins of the bureau\'s host and keys); the group may', () => {
      const file = write(HEAD);
      chmodSync(file, 0o666);
      assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && err.message === `config file ${file} is writable by every user of the machine (mode 666): chmod o-w it`);
      chmodSync(file, 0o664);
      assert.ok(loadConfig(file, {}));
    });

    it('refuses a secret variable naming the PAN data key\'s (the key was sent as the SFTP or database password)', () => {
      refused(write(HEAD + 'sftp: { passwordEnv: BX_PAN_KEY }\n'), 'sftp.passwordEnv', /BX_PAN_KEY holds the PAN data key/);
      refused(write(HEAD + 'pan: { keyEnv: BX_KEY }\ndatabase: { passwordEnv: BX_KEY }\n'), 'database.passwordEnv', /sent as the database password/);
      refused(write(HEAD + 'pan: { previousKeyEnv: BX_PAN_KEY }\n'), 'pan.previousKeyEnv', /a variable of its own/);
      refused(write(`issuer: { code: BXISSUER }
routing: { default: B1 }
bureaus:
  - { code: B1, fileNamePattern: "{issuer}_A_{date}_{seq}.pgp" }
  - { code: B2, fileNamePattern: "{issuer}_B_{date}_{seq}.pgp", reports: { rsaPassphraseEnv: BX_PAN_KEY_PREVIOUS } }
`), 'bureaus[1].reports.rsaPassphraseEnv', /holds the PAN data key/);
    });

    it('refuses --config "" (an unset shell variable) instead of using the installation\'s default file and its SQLite database', async function () {
      this.timeout(60_000);
      assert.throws(() => loadConfig('', {}), (err: Error) => err instanceof ConfigError && /--config: the file name is empty/.test(err.message));
      // before: exit 0, the contracts imported into config/default.yaml's var/bureau-exchange.sqlite
      const result = await runCli(['--config', '', 'contracts', 'import', join(dir, 'none.jsonl')], { BX_PAN_KEY: Buffer.alloc(32, 1).toString('base64') });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /--config: the file name is empty/);
    });

    it('refuses bytes that are not UTF-8, naming the line (they became U+FFFD in a host name or key path)', () => {
      const file = write(Buffer.concat([Buffer.from(HEAD + 'sftp:\n  host: "sftp.'), Buffer.from([0xe9]), Buffer.from('xample"\n')]));
      assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && err.message === `config file ${file} is not UTF-8 text: line 4`);
      assert.equal(loadConfig(write('\ufeff' + HEAD + 'sftp: { host: "sftp.éxample" }\n'), {}).sftp.host, 'sftp.éxample');
    });

    it('refuses a file larger than 1 MiB, a folder and /dev/zero without reading them whole', () => {
      const big = write(HEAD + `# ${'x'.repeat(1024 * 1024)}\n`);
      assert.throws(() => loadConfig(big, {}), (err: Error) => err instanceof ConfigError && err.message.includes(big) && /larger than 1 MiB/.test(err.message));
      mkdirSync(join(dir, 'folder.yaml'));
      assert.throws(() => loadConfig(join(dir, 'folder.yaml'), {}), (err: Error) => err instanceof ConfigError && /folder\.yaml cannot be read: EISDIR/.test(err.message));
      assert.throws(() => loadConfig('/dev/zero', {}), (err: Error) => err instanceof ConfigError && /\/dev\/zero is larger than 1 MiB/.test(err.message));
    });

    it('reads YAML 1.2 core whatever the %YAML directive: yes, 022, 17:00 and dates are never reinterpreted', () => {
      const config = loadConfig(write('%YAML 1.1\n---\n' + HEAD + 'sftp: { port: 022 }\nschedule: { sendAt: [17:00] }\ncalendar: { extraHolidays: [2026-12-24] }\n'), {});
      assert.equal(config.sftp.port, 22); // YAML 1.1 read octal 18
      assert.deepEqual(config.schedule.sendAt, ['17:00']); // YAML 1.1 read 1020
      assert.deepEqual(config.calendar.extraHolidays, ['2026-12-24']); // YAML 1.1 read a Date
      refused(write('%YAML 1.1\n---\n' + HEAD + 'pgp: { armor: yes }\n'), 'pgp.armor', /expected boolean/);
      refused(write('%YAML 1.1\n---\n' + HEAD + 'sftp: { <<: { port: 2222 } }\n'), 'sftp', /Unrecognized key: "<<"/);
    });

    it('refuses unknown tags, duplicate keys, alias bombs and deep nesting, naming the file', () => {
      const invalid = (file: string, pattern: RegExp) => assert.throws(() => loadConfig(file, {}),
        (err: Error) => err instanceof ConfigError && err.message.startsWith(`config file ${file} is not valid YAML: `) && pattern.test(err.message));
      // before: read as the text "x", with a YAMLWarning on stderr
      invalid(write(HEAD + 'sftp: { host: !!js/function "x" }\n'), /Unresolved tag/);
      invalid(write(HEAD + 'sftp:\n  port: 22\n  port: 2222\n'), /unique/);
      let bomb = 'a: &a [x, x, x, x, x, x, x, x, x]\n';
      for (let i = 1; i < 9; i++) bomb += `${'abcdefghij'[i]}: &${'abcdefghij'[i]} [${Array(9).fill(`*${'abcdefghij'[i - 1]}`).join(', ')}]\n`;
      invalid(write(bomb + HEAD), /alias/i);
      invalid(write(HEAD + `x: ${'['.repeat(50_000)}${']'.repeat(50_000)}\n`), /stack/i);
    });

    it('refuses a .env that is not UTF-8 or is a folder, never quoting it', () => {
      const file = write(HEAD);
      writeFileSync(join(dir, '.env'), Buffer.concat([Buffer.from('BX_PAN_KEY=s3cret'), Buffer.from([0xff]), Buffer.from('\n')]), { mode: 0o600 });
      assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && err.message === `the secrets file ${join(dir, '.env')} is not UTF-8 text: line 1`);
      rmSync(join(dir, '.env'));
      mkdirSync(join(dir, '.env'), { mode: 0o700 });
      assert.throws(() => loadConfig(file, {}), (err: Error) => err instanceof ConfigError && /\.env cannot be read: EISDIR/.test(err.message));
    });
  });
});
