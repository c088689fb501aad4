import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { contractIdsOf, decryptedRecords, removeDir, type BureauKeys } from './harness.js';
import { remoteFiles, useSshdAndBureauKeys } from './job-harness.js';

/** The sample's physical cards, written out: 1009 is virtual, line 10 has a bad contract id. */
const EXPECTED_SENT = ['1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008'];

/** Every PAN the samples hold, as the lines give it. */
const SAMPLE_PANS = readFileSync(join(PROJECT_ROOT, 'samples', 'contracts.jsonl'), 'utf8')
  .split('\n')
  .flatMap((line) => [...line.matchAll(/"pan":"(\d{12,19})"/g)].map((m) => m[1]!));

describe('bureau-exchange send (CLI, SQLite, real sshd)', function () {
  let sshd: SshdServer;
  let keys: BureauKeys;
  let dir: string;
  let config: string;
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };

  useSshdAndBureauKeys(async (started) => {
    ({ sshd, keys } = started);
    dir = mkdtempSync(join(tmpdir(), 'bx-send-cli-'));
    config = join(dir, 'config.yaml');
    writeFileSync(config, [
      'issuer: { code: BXISSUER }', 'bureau: { code: BUREAU01 }', `workDir: ${dir}/var`,
      `pgp: { bureauPublicKeyFile: ${keys.publicKeyFile}, bureauFingerprint: "${keys.fingerprint}" }`,
      `sftp: { host: 127.0.0.1, port: ${sshd.port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyFile}, hostKeySha256: "${sshd.hostKeySha256}", retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 } }`,
      '',
    ].join('\n'));
    const migrated = await runCli(['--config', config, 'migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    // the README's first steps import the samples: every line is taken
    const imported = await runCli(['--config', config, 'contracts', 'import', join(PROJECT_ROOT, 'samples', 'contracts.jsonl')], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /9 inserted, 0 updated, 0 skipped/);
  });
  after(() => {
    if (dir) removeDir(dir);
  });

  it('rejects a malformed --business-date with exit 2', async () => {
    const r = await runCli(['--config', config, 'send', '--business-date', '26.11.2026'], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--business-date/);
  });

  it('--dry-run prints the planned file and counts, uploads nothing', async () => {
    const r = await runCli(['--config', config, 'send', '--dry-run', '--business-date', '2026-11-26', '--force'], env);
    // exit 3: the sample's virtual card would be set aside; the eight physical ones make one file
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /BXISSUER_PERSO_20261126_000001\.dat\.pgp\s+8\s+dry-run/);
    assert.match(r.stdout, /1 card\(s\) would be set Invalid/);
    assert.match(r.stdout, /1009\s+5009\s+cardForm: a virtual card is never sent to the bureau/);
    assert.deepEqual(remoteFiles(sshd), []);
  });

  it('sends the samples: the file is on the server, gpg reads it, no full PAN printed; a second send has nothing to do', async () => {
    const r = await runCli(['--config', config, 'send', '--business-date', '2026-11-26', '--force'], env);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stdout, /BXISSUER_PERSO_20261126_000001\.dat\.pgp\s+8\s+sent/);
    assert.match(r.stdout, /8 card\(s\) sent in 1 file\(s\)/);
    assert.match(r.stdout, /1009\s+5009\s+cardForm: a virtual card is never sent to the bureau/);
    // the PANs themselves, not any long digit run: a logged sha256 often holds 13 digits in a row
    assert.ok(SAMPLE_PANS.length >= 9);
    for (const pan of SAMPLE_PANS) assert.ok(!(r.stdout + r.stderr).includes(pan), `full PAN ${pan.slice(0, 6)}… printed`);
    assert.deepEqual(remoteFiles(sshd), ['BXISSUER_PERSO_20261126_000001.dat.pgp']);
    const cards = contractIdsOf(decryptedRecords(keys, join(sshd.root, 'inbound', remoteFiles(sshd)[0]!)));
    assert.deepEqual(cards, EXPECTED_SENT);
    const again = await runCli(['--config', config, 'send', '--business-date', '2026-11-26', '--force'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /0 card\(s\) sent in 0 file\(s\)/);
  });
});
