import type { Config } from '../config/schema.js';
import { loadRecipientKey } from '../crypto/pgp.js';
import { messageOf } from '../errors.js';
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
    keys.push({ purpose: r.purpose, fingerprint: info.fingerprint, daysToExpiry: info.daysToExpiry, warningDays: pgp.expiryWarningDays });
  }
  return keys;
}

/**
 * The OpenPGP recipient keys of every bureau, each with its bureau's code and warning days (a key two
 * bureaus share, an archive key say, once, warned of as early as either bureau asks). A bureau whose
 * key cannot be used throws, naming the bureau.
 */
export async function everyBureauKeyExpiries(config: Pick<Config, 'bureaus'>, now: Date): Promise<KeyExpiry[]> {
  const keys = new Map<string, KeyExpiry>();
  for (const bureau of config.bureaus) {
    let found: KeyExpiry[];
    try {
      found = await pgpKeyExpiries(bureau.pgp, now);
    } catch (err) {
      throw new Error(`bureau ${bureau.code}: ${messageOf(err)}`);
    }
    for (const k of found) {
      const first = keys.get(`${k.purpose} ${k.fingerprint}`);
      if (first) first.warningDays = Math.max(first.warningDays ?? 0, k.warningDays ?? 0);
      else keys.set(`${k.purpose} ${k.fingerprint}`, { ...k, bureau: bureau.code });
    }
  }
  return [...keys.values()];
}
