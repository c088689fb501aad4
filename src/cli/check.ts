import type { Command } from 'commander';
import { makeLogger, type GlobalOptions } from '../app.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { pgpConfigFromConfig } from '../crypto/pgp.js';
import { loadBureauVerificationKey, loadReportSigningKey, spkiSha256 } from '../crypto/report-signature.js';
import { ConfigError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { withSession } from '../transport/remote.js';
import { fetchHostKeyFingerprint, makeSftpTransport } from '../transport/sftp.js';
import { bureauConfig } from '../outbound/bureau-config.js';
import { personalizationFileName } from '../perso/file-name.js';
import { DEFAULT_LAYOUTS_DIR, loadLayoutFile } from '../perso/layout.js';
import { join } from 'node:path';
import { bureausOf } from './options.js';
import { printTable } from './output.js';

export const order = 85;

type Row = { check: string; result: 'ok' | 'FAILED' | 'WARNING'; detail: string };

/**
 * `check`: each bureau's layout, OpenPGP keys, report-signature keys and SFTP connection, as
 * configured; changes nothing. Every bureau is checked whatever another's result, each saying what
 * passed and failed; the command fails when any check of any bureau failed.
 */
export function register(program: Command): void {
  program
    .command('check')
    .description("check each bureau's layout, OpenPGP keys (pin, expiry, revocation), the keys that verify its report signatures and its SFTP connection (pinned host key, login, folders); changes nothing")
    .option('--bureau <code>', 'check this bureau only (default: every configured bureau)')
    .option('--show-host-key', "print the SFTP server's host key fingerprint (to verify with the bureau and pin), without logging in")
    .action(async (opts: { bureau?: string; showHostKey?: boolean }, cmd: Command) => {
      const options = cmd.optsWithGlobals() as GlobalOptions;
      const config = loadConfig(options.config);
      const bureaus = bureausOf(config, opts.bureau);
      const several = config.bureaus.length > 1;
      const key = (i: number, name: string) => (several ? `bureaus[${config.bureaus.indexOf(bureaus[i]!)}].${name}` : name);
      if (opts.showHostKey) {
        for (const [i, { code }] of bureaus.entries()) {
          const { sftp } = bureauConfig(config, code).config;
          const fingerprint = await fetchHostKeyFingerprint(sftp);
          process.stdout.write(`${several ? `bureau ${code}: ` : ''}${sftp.host}:${sftp.port} host key ${fingerprint}\n` +
            `verify it with the bureau out of band, then set ${key(i, 'sftp.hostKeySha256')}: "${fingerprint}"\n`);
        }
        return;
      }
      const log = makeLogger(config, options);
      let failures = 0;
      for (const { code, name } of bureaus) {
        const view = { ...bureauConfig(config, code).config, configFile: config.configFile };
        const rows = [checkLayout(view), ...(await checkPgp(view, log)), ...(await checkReportSignatures(view, log)), ...(await checkSftp(view, log))];
        const failed = rows.filter((r) => r.result === 'FAILED').length;
        failures += failed;
        if (several) process.stdout.write(`Bureau ${code}${name === code ? '' : ` (${name})`}\n`);
        printTable(rows);
        if (several) process.stdout.write(`${code}: ${failed ? `${failed} check(s) FAILED` : 'every check passed'}\n\n`);
      }
      if (failures) process.exitCode = 1;
    });
}

/** The bureau's layout as loaded (a broken one already stopped the config), with the name its first file of today would get. */
function checkLayout(config: LoadedConfig): Row {
  try {
    const { layout, layoutsDir, lineEnding, fileNamePattern } = config.perso;
    // read again from its file: it may have changed since the daemon started
    const file = loadLayoutFile(join(layoutsDir ?? DEFAULT_LAYOUTS_DIR, `${layout}.yaml`));
    const today = new Date().toISOString().slice(0, 10);
    return { check: 'layout', result: 'ok', detail: `${file.name} (${file.recordLength}-character records), ${lineEnding}, files named like ${personalizationFileName(fileNamePattern, config.issuer.code, today, 1)}` };
  } catch (err) {
    return failed('layout', err);
  }
}

async function checkPgp(config: LoadedConfig, log: Logger): Promise<Row[]> {
  try {
    const pgp = await pgpConfigFromConfig(config.pgp, { log });
    const rows: Row[] = pgp.keys.map((info, i) => ({
      check: `pgp ${i === 0 ? 'bureau' : 'archive'} key`,
      result: 'ok',
      detail: `${info.fingerprint}, ${info.expiresAt ? `expires ${info.expiresAt.toISOString().slice(0, 10)} (in ${info.daysToExpiry} days)` : 'no expiry'}`,
    }));
    if (pgp.signingKey) rows.push({ check: 'pgp signing key', result: 'ok', detail: pgp.signingKey.getFingerprint().toUpperCase() });
    return rows;
  } catch (err) {
    return [failed('pgp keys', err)];
  }
}

/**
 * The keys that prove reports come from the bureau (bureau-interface 1.1): the RSA report-signing key
 * for `.rsa` reports (present, a PEM RSA key of 2048 bits or more, matching its pin) and the bureau's
 * OpenPGP key able to sign, for `.pgp` reports; each checked when that kind of report is received.
 */
async function checkReportSignatures(config: LoadedConfig, log: Logger): Promise<Row[]> {
  const { reports } = config;
  if (reports.signatures === 'off') {
    return [{ check: 'report signatures', result: 'WARNING', detail: 'reports.signatures is off: reports are NOT authenticated' }];
  }
  const rows: Row[] = [];
  if (reports.rsaPrivateKeyFile || reports.signingPublicKeyFile) {
    try {
      if (!reports.signingPublicKeyFile) throw new ConfigError('reports.signingPublicKeyFile (with reports.signingKeySha256) is required to verify .rsa reports');
      const key = loadReportSigningKey(reports.signingPublicKeyFile, reports.signingKeySha256);
      rows.push({ check: 'report signing key', result: 'ok', detail: `RSA ${key.asymmetricKeyDetails?.modulusLength} bits, SPKI SHA-256 ${spkiSha256(key)} (pinned)` });
    } catch (err) {
      rows.push(failed('report signing key', err));
    }
  }
  if (reports.pgpPrivateKeyFile) {
    try {
      const key = await loadBureauVerificationKey(config.pgp, { log });
      const signing = await key.getSigningKey();
      rows.push({ check: 'pgp bureau key signs reports', result: 'ok', detail: `signing key ${signing.getFingerprint().toUpperCase()}` });
    } catch (err) {
      rows.push(failed('pgp bureau key signs reports', err));
    }
  }
  return rows;
}

async function checkSftp(config: LoadedConfig, log: Logger): Promise<Row[]> {
  const rows: Row[] = [];
  try {
    await withSession(makeSftpTransport(config.sftp, { log }), async (session) => {
      rows.push({ check: 'sftp login', result: 'ok', detail: `${config.sftp.username}@${config.sftp.host}:${config.sftp.port}, host key ${config.sftp.hostKeySha256}` });
      for (const dir of [config.sftp.inboundDir, config.sftp.outboundDir]) {
        const entries = await session.list(dir).catch((err) => err as Error);
        rows.push(entries instanceof Error ? failed(`sftp folder ${dir}`, entries) : { check: `sftp folder ${dir}`, result: 'ok', detail: `${entries.length} entries` });
      }
    });
  } catch (err) {
    rows.push(failed('sftp connection', err));
  }
  return rows;
}

function failed(check: string, err: unknown): Row {
  return { check, result: 'FAILED', detail: `${err instanceof ConfigError ? 'config: ' : ''}${messageOf(err)}` };
}
