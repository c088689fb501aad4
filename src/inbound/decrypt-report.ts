import { createReadStream, statSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import type * as openpgp from 'openpgp';
import type { Config } from '../config/schema.js';
import { secretFromEnv } from '../config/secrets.js';
import { PgpSignatureError, decryptToFile, loadPrivateKey } from '../crypto/pgp.js';
import { ReportSignatureError, loadBureauVerificationKey, loadReportSigningKey, verifyReportFile } from '../crypto/report-signature.js';
import { decryptRsaFile, loadRsaPrivateKey } from '../crypto/rsa.js';
import type { ReportKind } from '../db/reports.js';
import { ConfigError, InputError, PermanentError, messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';

/** The detached signature beside a `.rsa` report: its remote name, and its bytes when read (null: there is none). */
export interface DetachedSignature {
  name: string;
  read(): Promise<Buffer | null>;
}

export interface ReportDecryptor {
  /**
   * Checks the report's signature (unless reports.signatures is off) and decrypts `encrypted` into
   * `clearFile`. A missing or bad signature throws a ReportSignatureError, input that does not
   * decrypt an InputError (either way the report is quarantined); a missing or unusable key throws a
   * ConfigError (nothing is quarantined). `clearFile` exists only when this resolves.
   */
  decrypt(kind: ReportKind, encrypted: string, clearFile: string, signature: DetachedSignature, signal?: AbortSignal): Promise<void>;
}

/**
 * Keys are loaded on first use: a run with only .rsa reports needs no OpenPGP key. The decryption keys
 * and the pinned RSA signing key are then kept; the bureau OpenPGP key is read again for each report.
 */
export function makeReportDecryptor(
  config: Pick<Config, 'reports' | 'pgp'>,
  { env = process.env, log = silentLogger }: { env?: NodeJS.ProcessEnv; log?: Logger } = {},
): ReportDecryptor {
  const { reports } = config;
  const verify = reports.signatures === 'required';
  let rsaKey: KeyObject | undefined;
  let rsaSigningKey: KeyObject | undefined;
  let pgpKey: Promise<openpgp.PrivateKey> | undefined;
  const rsa = () => {
    if (!reports.rsaPrivateKeyFile) throw new ConfigError('config key reports.rsaPrivateKeyFile is required to decrypt .rsa reports');
    rsaKey ??= loadRsaPrivateKey(reports.rsaPrivateKeyFile, secretFromEnv(reports.rsaPassphraseEnv, env), { allowInsecure: reports.allowInsecureKeyFile });
    return rsaKey;
  };
  const rsaSigning = () => {
    if (!reports.signingPublicKeyFile) {
      throw new ConfigError('config key reports.signingPublicKeyFile (with reports.signingKeySha256) is required to verify .rsa reports; ' +
        'only for a bureau that does not sign (before bureau-interface 1.1) set reports.signatures: off');
    }
    rsaSigningKey ??= loadReportSigningKey(reports.signingPublicKeyFile, reports.signingKeySha256);
    return rsaSigningKey;
  };
  const pgp = () => {
    if (!reports.pgpPrivateKeyFile) throw new ConfigError('config key reports.pgpPrivateKeyFile is required to decrypt .pgp reports');
    pgpKey ??= loadPrivateKey(reports.pgpPrivateKeyFile, secretFromEnv(reports.pgpPassphraseEnv, env), { allowInsecure: reports.allowInsecureKeyFile });
    return pgpKey.catch((err) => {
      pgpKey = undefined;
      throw err instanceof ConfigError ? err : new ConfigError(`cannot load reports.pgpPrivateKeyFile: ${messageOf(err)}`);
    });
  };
  // read again for every .pgp report, never kept: the daemon keeps this decryptor for months, and a
  // revocation reaches us as a new key file under the same fingerprint (the send reloads it each run)
  const pgpVerification = async () => (verify ? [await loadBureauVerificationKey(config.pgp, { log })] : undefined);
  return {
    async decrypt(kind, encrypted, clearFile, signature, signal) {
      if (kind === 'rsa') {
        // a forged report is not even decrypted
        if (verify) {
          const key = rsaSigning();
          await verifyReportFile(encrypted, await signature.read(), key, signature.name);
        }
        const key = rsa();
        await decryptRsaFile(encrypted, { key, destination: clearFile, maxBytes: reports.maxClearBytes, workers: reports.decryptWorkers, signal });
        return;
      }
      const decryptionKey = await pgp();
      const verificationKeys = await pgpVerification();
      try {
        const encryptedBytes = statSync(encrypted).size;
        await decryptToFile(createReadStream(encrypted), { decryptionKey, verificationKeys, destination: clearFile, maxBytes: reports.maxClearBytes, signal, encryptedBytes });
      } catch (err) {
        if (err instanceof PgpSignatureError) throw new ReportSignatureError(`${err.message}; a .pgp report must be signed by the pinned bureau OpenPGP key`);
        // decryptToFile throws PermanentError for anything about the message itself
        if (err instanceof PermanentError) throw new InputError(messageOf(err));
        throw err;
      }
    },
  };
}
