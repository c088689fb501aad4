import type * as openpgp from 'openpgp';
import type { Config } from '../config/schema.js';
import { REQUIRED_KEYS, requireKeys } from '../config/load.js';
import { secretFromEnv } from '../config/secrets.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { loadPrivateKey, loadRecipientKey, type PgpKeyInfo } from './pgp-keys.js';

/** Everything `encryptStream` needs, loaded and checked from config.pgp, plus what was checked. */
export interface PgpEncryptionConfig {
  recipients: openpgp.PublicKey[];
  signingKey?: openpgp.PrivateKey;
  armor: boolean;
  /** the bureau key first, then the archive key when configured */
  keys: PgpKeyInfo[];
}

/**
 * Loads the bureau key (required, pinned), the archive key (optional, pinned when given) and the
 * signing key (when signing is enabled) from config.pgp. Throws ConfigError/PermanentError naming
 * the key and the config entry at fault.
 */
export async function pgpConfigFromConfig(
  pgp: Config['pgp'],
  deps: { log: Logger; now?: Date; env?: NodeJS.ProcessEnv },
): Promise<PgpEncryptionConfig> {
  requireKeys({ pgp } as Config, REQUIRED_KEYS.encrypt, 'OpenPGP encryption');
  const check = { now: deps.now, warnDays: pgp.expiryWarningDays, log: deps.log };
  const bureau = await loadRecipientKey(pgp.bureauPublicKeyFile!, pgp.bureauFingerprint, { ...check, purpose: 'bureau' });
  const recipients = [bureau.key];
  const keys = [bureau.info];
  if (pgp.archivePublicKeyFile) {
    if (!pgp.archiveFingerprint) throw new ConfigError('config key pgp.archiveFingerprint is required when pgp.archivePublicKeyFile is set');
    const archive = await loadRecipientKey(pgp.archivePublicKeyFile, pgp.archiveFingerprint, { ...check, purpose: 'archive' });
    recipients.push(archive.key);
    keys.push(archive.info);
  }
  return { recipients, signingKey: await signingKeyOf(pgp, deps.env), armor: pgp.armor, keys };
}

async function signingKeyOf(pgp: Config['pgp'], env: NodeJS.ProcessEnv = process.env): Promise<openpgp.PrivateKey | undefined> {
  if (!pgp.sign.enabled) return undefined;
  if (!pgp.sign.privateKeyFile) throw new ConfigError('config key pgp.sign.privateKeyFile is required when pgp.sign.enabled is true');
  return loadPrivateKey(pgp.sign.privateKeyFile, secretFromEnv(pgp.sign.passphraseEnv, env));
}
