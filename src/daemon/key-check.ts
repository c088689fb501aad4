import type { Config } from '../config/schema.js';
import { loadRecipientKey } from '../crypto/pgp.js';
import { silentLogger } from '../log.js';
import type { KeyExpiry } from './metrics.js';

/**
 * The expiry of the configured OpenPGP recipient keys (bureau, archive). A key that cannot be used
 * any more (expired, revoked, fingerprint mismatch) throws: the caller alerts with the message.
 */
export async function pgpKeyExpiries(pgp: Config['pgp'], now: Date): Promise<KeyExpiry[]> {
  const keys: KeyExpiry[] = [];
  const check = { now, warnDays: pgp.expiryWarningDays, log: silentLogger };
  const recipients = [
    { purpose: 'bureau', file: pgp.bureauPublicKeyFile, fingerprint: pgp.bureauFingerprint },
    { purpose: 'archive', file: pgp.archivePublicKeyFile, fingerprint: pgp.archiveFingerprint },
  ];
  for (const r of recipients) {
    if (!r.file) continue;
    const { info } = await loadRecipientKey(r.file, r.fingerprint, { ...check, purpose: r.purpose });
    keys.push({ purpose: r.purpose, fingerprint: info.fingerprint, daysToExpiry: info.daysToExpiry });
  }
  return keys;
}
