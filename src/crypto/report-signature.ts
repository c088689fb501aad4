import { constants, createHash, createPrivateKey, createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as openpgp from 'openpgp';
import type { Config } from '../config/schema.js';
import { requireKeys } from '../config/load.js';
import { ConfigError, InputError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { loadRecipientKey } from './pgp-keys.js';

/**
 * Detached signatures of `.rsa` reports (bureau-interface 1.1, "Authenticity"): RSA-PSS with
 * SHA-256, MGF1-SHA-256 (OpenSSL uses the digest for MGF1 unless told otherwise) and a salt of
 * 32 bytes, over the exact bytes of the report file; the signature is the raw k-byte block.
 * The bureau's public key is pinned by the SHA-256 of its DER SubjectPublicKeyInfo.
 */
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as const;
const DIGEST = 'sha256';
const MIN_MODULUS_BITS = 2048;
/** the signature of a 16384-bit RSA key: a larger .sig file is not read */
export const MAX_SIGNATURE_BYTES = 2048;
/** the name of the detached signature of a report */
export const SIGNATURE_SUFFIX = '.sig';

/** The report is not proven to come from the bureau: quarantined like any bad input. */
export class ReportSignatureError extends InputError {
  override name = 'ReportSignatureError';
}

/** SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex: what `openssl pkey -pubin -outform DER | openssl dgst -sha256` prints. */
export function spkiSha256(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

/** A pin as written in config (hex, any case, with or without ':' or spaces) as plain lower-case hex. */
export function normalizeSha256Pin(text: string): string {
  return text.replace(/[\s:]/g, '').toLowerCase();
}

/**
 * Loads the bureau's report-signing public key (PEM) and checks it against its pin: the key file is
 * a local setting, so anything wrong with it is a ConfigError (the run fails, nothing is quarantined).
 */
export function loadReportSigningKey(file: string, pinnedSha256: string | undefined, configKey = 'reports.signingPublicKeyFile'): KeyObject {
  if (!pinnedSha256) throw new ConfigError(`no pinned SHA-256 is configured for ${configKey} ${file} (set reports.signingKeySha256)`);
  let pem: Buffer;
  try {
    if (statSync(file).size > 64 * 1024) throw new ConfigError(`${configKey} ${file} is too large for a public key`);
    pem = readFileSync(file);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${configKey} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError(`${configKey} ${file} is not a PEM public key`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ConfigError(`${configKey} ${file} holds a ${key.asymmetricKeyType} key, not RSA`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_BITS) throw new ConfigError(`${configKey} ${file} is a ${bits}-bit RSA key: at least ${MIN_MODULUS_BITS} bits are required`);
  const actual = spkiSha256(key);
  const pinned = normalizeSha256Pin(pinnedSha256);
  if (actual !== pinned) {
    throw new ConfigError(`${configKey} ${file} has SPKI SHA-256 ${actual}, which does not match the pinned reports.signingKeySha256 ${pinned}`);
  }
  return key;
}

/** Bytes of a signature made by `key`: the modulus length. */
export function signatureSizeOf(key: KeyObject): number {
  return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
}

/**
 * Checks the detached signature of a report file; throws a ReportSignatureError (the report is
 * quarantined) when it is missing, of the wrong size, or does not verify with `key`.
 */
export async function verifyReportFile(file: string, signature: Buffer | null, key: KeyObject, signatureName: string): Promise<void> {
  if (!signature) throw new ReportSignatureError(`signature missing: no ${signatureName} beside the report`);
  const k = signatureSizeOf(key);
  if (signature.length !== k) {
    throw new ReportSignatureError(`signature ${signatureName} is ${signature.length} bytes, a signature of the ${k * 8}-bit bureau report-signing key is ${k}`);
  }
  const verifier = createVerify(DIGEST);
  await pipeline(createReadStream(file), verifier);
  if (!verifier.verify({ key, ...PSS }, signature)) {
    throw new ReportSignatureError(`signature ${signatureName} does not verify with the pinned bureau report-signing key (another key, another file, or altered)`);
  }
}

/** Signs report bytes as the bureau does (the sandbox bureau and the tests are the bureau here). */
export async function signReport(data: Buffer | Readable, privateKey: KeyObject | string): Promise<Buffer> {
  const signer = createSign(DIGEST);
  if (Buffer.isBuffer(data)) signer.end(data);
  else await pipeline(data, signer);
  return signer.sign({ key: typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey, ...PSS });
}

/**
 * The bureau's OpenPGP key as the signer of `.pgp` reports: the key we encrypt our files to (pinned
 * by pgp.bureauFingerprint, not revoked or expired) with a valid signing (sub)key. A key that cannot
 * verify is a local setting at fault: ConfigError.
 */
export async function loadBureauVerificationKey(pgp: Config['pgp'], deps: { log: Logger; now?: Date }): Promise<openpgp.PublicKey> {
  requireKeys({ pgp } as Config, ['pgp.bureauPublicKeyFile', 'pgp.bureauFingerprint'], 'verifying the signature of .pgp reports');
  try {
    const { key } = await loadRecipientKey(pgp.bureauPublicKeyFile!, pgp.bureauFingerprint, {
      now: deps.now, warnDays: pgp.expiryWarningDays, log: deps.log, purpose: 'bureau',
    });
    await key.getSigningKey(undefined, deps.now ?? new Date());
    return key;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`the bureau OpenPGP key (pgp.bureauPublicKeyFile) cannot verify .pgp reports: ${messageOf(err)}`);
  }
}
