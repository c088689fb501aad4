import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { makeReportDecryptor, type ReportDecryptor } from '../../src/inbound/decrypt-report.js';
import { testConfig } from '../helpers/config.js';
import { createGpgHome, requireGpg, type GpgHome } from '../helpers/gpg.js';

/**
 * The daemon builds its receive job, and so its report decryptor, once at start and keeps it for
 * months. The bureau OpenPGP key that verifies `.pgp` reports must be the one in the key file at
 * each report: a revocation is published by updating that file (the fingerprint, hence the pin,
 * stays the same), and the send job already honours it from its next run.
 */
describe('inbound/decrypt-report: the bureau OpenPGP key of a long-running decryptor', function () {
  let gpg: GpgHome;
  let dir: string;
  let issuerPub: string;
  let issuerSec: string;
  let bureauFpr: string;
  let bureauPub: string;
  const noSig = { name: 'unused.sig', read: async () => null };

  before(function () {
    requireGpg(this);
    gpg = createGpgHome();
    dir = mkdtempSync(join(tmpdir(), 'bx-key-life-'));
    const issuerFpr = gpg.generateKey('BX Issuer <issuer@example.test>');
    issuerPub = gpg.exportPublicKey(issuerFpr);
    issuerSec = gpg.exportSecretKey(issuerFpr);
    bureauFpr = gpg.generateKey('Bureau <bureau@example.test>');
    bureauPub = gpg.exportPublicKey(bureauFpr);
  });
  after(() => {
    gpg?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function decryptor(): ReportDecryptor {
    return makeReportDecryptor(testConfig({
      workDir: dir,
      pgp: { bureauPublicKeyFile: bureauPub, bureauFingerprint: bureauFpr },
      reports: { pgpPrivateKeyFile: issuerSec },
    }));
  }

  function signedReport(name: string, xml: string): string {
    const file = join(dir, name);
    writeFileSync(file, gpg.gpgEncrypt(Buffer.from(xml), issuerPub, { signWith: bureauFpr }));
    return file;
  }

  /** Revokes the bureau key the way gpg does (its stored revocation certificate) and re-exports it over the same file. */
  function revokeBureauKeyInPlace(): void {
    const base = ['--homedir', gpg.home, '--batch', '--yes', '--no-tty'];
    const certificate = readFileSync(join(gpg.home, 'openpgp-revocs.d', `${bureauFpr}.rev`), 'utf8').replace(':-----BEGIN', '-----BEGIN');
    const certificateFile = join(dir, 'revocation.asc');
    writeFileSync(certificateFile, certificate);
    execFileSync('gpg', [...base, '--import', certificateFile], { stdio: 'pipe' });
    execFileSync('gpg', [...base, '--armor', '--output', bureauPub, '--export', bureauFpr], { stdio: 'pipe' });
  }

  it('a revocation written into pgp.bureauPublicKeyFile stops the next .pgp report of a decryptor already in use', async function () {
    const d = decryptor();
    // both reports were genuinely signed before the revocation (say the key was stolen since)
    const first = signedReport('first.xml.pgp', '<BureauReport version="1"/>');
    const second = signedReport('second.xml.pgp', '<BureauReport version="1"><Header/></BureauReport>');
    await d.decrypt('pgp', first, join(dir, 'first.xml'), noSig);
    assert.ok(existsSync(join(dir, 'first.xml')));

    revokeBureauKeyInPlace();

    // a local setting at fault (nothing quarantined, the run fails naming the key), as at a fresh start
    await assert.rejects(d.decrypt('pgp', second, join(dir, 'second.xml'), noSig), (err: Error) =>
      err instanceof ConfigError && /bureau OpenPGP key|pgp\.bureauPublicKeyFile/.test(err.message) && /revoked/.test(err.message));
    assert.equal(existsSync(join(dir, 'second.xml')), false, 'nothing of the report is decrypted');
    await assert.rejects(decryptor().decrypt('pgp', second, join(dir, 'second-fresh.xml'), noSig), ConfigError);
  });
});
