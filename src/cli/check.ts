import type { Command } from 'commander';
import { makeLogger, type GlobalOptions } from '../app.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { pgpConfigFromConfig } from '../crypto/pgp.js';
import { ConfigError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { withSession } from '../transport/remote.js';
import { fetchHostKeyFingerprint, makeSftpTransport } from '../transport/sftp.js';
import { printTable } from './output.js';

export const order = 85;

type Row = { check: string; result: 'ok' | 'FAILED'; detail: string };

/** `check`: the bureau connection and the OpenPGP keys, as configured; changes nothing. */
export function register(program: Command): void {
  program
    .command('check')
    .description('check the OpenPGP keys (pin, expiry, revocation) and the SFTP connection (pinned host key, login, folders); changes nothing')
    .option('--show-host-key', "print the SFTP server's host key fingerprint (to verify with the bureau and pin), without logging in")
    .action(async (opts: { showHostKey?: boolean }, cmd: Command) => {
      const options = cmd.optsWithGlobals() as GlobalOptions;
      const config = loadConfig(options.config);
      if (opts.showHostKey) {
        const fingerprint = await fetchHostKeyFingerprint(config.sftp);
        process.stdout.write(`${config.sftp.host}:${config.sftp.port} host key ${fingerprint}\n` +
          `verify it with the bureau out of band, then set sftp.hostKeySha256: "${fingerprint}"\n`);
        return;
      }
      const log = makeLogger(config, options);
      const rows = [...(await checkPgp(config, log)), ...(await checkSftp(config, log))];
      printTable(rows);
      if (rows.some((r) => r.result === 'FAILED')) process.exitCode = 1;
    });
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
