import { createReadStream } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { secretFromEnv } from '../config/secrets.js';
import { decryptToFile, loadPrivateKey } from '../crypto/pgp.js';
import { decryptRsaFile, loadRsaPrivateKey } from '../crypto/rsa.js';
import type { ReportKind } from '../db/reports.js';
import { ConfigError, InputError, PermanentError, messageOf } from '../errors.js';

type PgpPrivateKey = Awaited<ReturnType<typeof loadPrivateKey>>;

export interface ReportDecryptor {
  /**
   * Decrypts `encrypted` into `clearFile`. Input that does not decrypt throws an InputError (the
   * report is quarantined); a missing or unusable key throws a ConfigError (nothing is quarantined).
   */
  decrypt(kind: ReportKind, encrypted: string, clearFile: string): Promise<void>;
}

/** Keys are loaded on first use, once: a run with only .rsa reports needs no OpenPGP key. */
export function makeReportDecryptor(reports: Config['reports'], env: NodeJS.ProcessEnv = process.env): ReportDecryptor {
  let rsaKey: KeyObject | undefined;
  let pgpKey: Promise<PgpPrivateKey> | undefined;
  const rsa = () => {
    if (!reports.rsaPrivateKeyFile) throw new ConfigError('config key reports.rsaPrivateKeyFile is required to decrypt .rsa reports');
    rsaKey ??= loadRsaPrivateKey(reports.rsaPrivateKeyFile, secretFromEnv(reports.rsaPassphraseEnv, env), { allowInsecure: reports.allowInsecureKeyFile });
    return rsaKey;
  };
  const pgp = () => {
    if (!reports.pgpPrivateKeyFile) throw new ConfigError('config key reports.pgpPrivateKeyFile is required to decrypt .pgp reports');
    pgpKey ??= loadPrivateKey(reports.pgpPrivateKeyFile, secretFromEnv(reports.pgpPassphraseEnv, env), { allowInsecure: reports.allowInsecureKeyFile });
    return pgpKey;
  };
  return {
    async decrypt(kind, encrypted, clearFile) {
      if (kind === 'rsa') {
        const key = rsa();
        await decryptRsaFile(encrypted, { key, destination: clearFile, maxBytes: reports.maxClearBytes, workers: reports.decryptWorkers });
        return;
      }
      const decryptionKey = await pgp().catch((err) => {
        pgpKey = undefined;
        throw err instanceof ConfigError ? err : new ConfigError(`cannot load reports.pgpPrivateKeyFile: ${messageOf(err)}`);
      });
      try {
        await decryptToFile(createReadStream(encrypted), { decryptionKey, destination: clearFile, maxBytes: reports.maxClearBytes });
      } catch (err) {
        // decryptToFile throws PermanentError for anything about the message itself
        if (err instanceof PermanentError) throw new InputError(messageOf(err));
        throw err;
      }
    },
  };
}
