import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../src/config/load.js';
import { canonicalId } from '../../src/domain/contract.js';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';
import { freeLoopbackPort } from '../../src/sandbox/init.js';
import { requireSshd, type SshdServer } from '../helpers/sshd.js';
import { contractIdsOf, decryptedRecords, filesIn, removeDir, twoBureauServer, type BureauKeys } from './harness.js';

describe('bureau-exchange send with two bureaus (CLI, SQLite, real sshd)', function () {
  let server: Awaited<ReturnType<typeof twoBureauServer>> | undefined;
  let sshd: SshdServer;
  let keys: { b1: BureauKeys; emb: BureauKeys };
  let dir: string;
  /** the same bureaus and database; in `down`, EMB01's server is unreachable */
  let config: string;
  let down: string;
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };

  before(async function () {
    // two gpg keys and two CLI runs (a process each): on a loaded machine more than the default minute
    this.timeout(180_000);
    requireSshd(this);
    // EMB01's folders (emb-in, emb-out) beside BUREAU01's, a gpg key pair each
    server = await twoBureauServer();
    ({ sshd, keys } = server);
    dir = mkdtempSync(join(tmpdir(), 'bx-send-bureaus-cli-'));
    const write = (name: string, embPort: number) => {
      const sftp = (port: number, extra: string) =>
        `{ host: 127.0.0.1, port: ${port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyFile}, hostKeySha256: "${sshd.hostKeySha256}", retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 }${extra} }`;
      const file = join(dir, name);
      writeFileSync(file, [
        'issuer: { code: BXISSUER }', `workDir: ${dir}/var`,
        'bureaus:',
        '  - code: BUREAU01',
        `    pgp: { bureauPublicKeyFile: ${keys.b1.publicKeyFile}, bureauFingerprint: "${keys.b1.fingerprint}" }`,
        `    sftp: ${sftp(sshd.port, '')}`,
        '  - code: EMB01',
        '    layout: emb-v1',
        `    pgp: { bureauPublicKeyFile: ${keys.emb.publicKeyFile}, bureauFingerprint: "${keys.emb.fingerprint}" }`,
        `    sftp: ${sftp(embPort, ', inboundDir: /emb-in, outboundDir: /emb-out, processedDir: /emb-out/done, failedDir: /emb-out/failed')}`,
        'routing: { rules: [{ bureau: EMB01, when: { productCode: GOLD02 } }], default: BUREAU01 }',
        '',
      ].join('\n'));
      return file;
    };
    config = write('config.yaml', sshd.port);
    down = write('config-down.yaml', await freeLoopbackPort());
    // the sample's eight physical cards, the even ones GOLD02 (EMB01's)
    const lines = readFileSync(join(PROJECT_ROOT, 'samples', 'contracts.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"physical"'))
      .map((l, i) => (i % 2 === 1 ? l.replace('"productCode":"CLASSIC01"', '"productCode":"GOLD02"') : l));
    writeFileSync(join(dir, 'contracts.jsonl'), lines.join('\n') + '\n');
    assert.equal((await runCli(['--config', config, 'migrate'], env)).code, 0);
    const imported = await runCli(['--config', config, 'contracts', 'import', join(dir, 'contracts.jsonl')], env);
    assert.equal(imported.code, 0, imported.stderr);
  });
  after(async () => {
    await server?.stop();
    if (dir) removeDir(dir);
  });

  it('--bureau names a configured bureau', async () => {
    const r = await runCli(['--config', config, 'send', '--bureau', 'NOPE'], env);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--bureau: "NOPE" is not a configured bureau \(BUREAU01, EMB01\)/);
  });

  it('every bureau in turn: one unreachable fails the command, the other is sent; --bureau then sends that one only', async function () {
    this.timeout(180_000); // three CLI runs and four gpg reads
    const r = await runCli(['--config', down, 'send', '--business-date', '2026-11-26', '--force'], env);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /Bureau BUREAU01\n[\s\S]*BXISSUER_PERSO_20261126_000001\.dat\.pgp\s+4\s+sent[\s\S]*Bureau EMB01/);
    assert.match(r.stderr, /bureau EMB01: error: /);
    assert.deepEqual(contractIdsOf(decryptedRecords(keys.b1, join(sshd.root, 'inbound', 'BXISSUER_PERSO_20261126_000001.dat.pgp'))), ['1001', '1003', '1005', '1007']);
    assert.deepEqual(filesIn(join(sshd.root, 'emb-in')), []);

    const emb = await runCli(['--config', config, 'send', '--bureau', 'EMB01', '--business-date', '2026-11-26', '--force'], env);
    assert.equal(emb.code, 0, emb.stdout + emb.stderr);
    assert.match(emb.stdout, /BXISSUER_EMB_20261126_000001\.txt\.pgp\s+4\s+sent/);
    assert.doesNotMatch(emb.stdout, /Bureau BUREAU01/);
    const embLines = keys.emb.gpg.gpgDecrypt(join(sshd.root, 'emb-in', 'BXISSUER_EMB_20261126_000001.txt.pgp')).toString('latin1').split('\r\n');
    assert.deepEqual(embLines.filter((l) => l.startsWith('02')).map((l) => canonicalId(l.slice(88, 103))), ['1002', '1004', '1006', '1008']);
    assert.deepEqual(filesIn(join(sshd.root, 'inbound')), ['BXISSUER_PERSO_20261126_000001.dat.pgp'], 'BUREAU01 was not sent again');
  });
});
