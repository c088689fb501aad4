import { createCipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { PermanentError } from '../errors.js';
import { GcmDecryptor } from './gcm.js';

/** A PAN as stored: ciphertext, last four digits, and a keyed hash for look-up. */
export interface StoredPan {
  /** `v1:<keyId>:<base64 iv|ciphertext|tag>` */
  panEnc: string;
  panLast4: string;
  /** HMAC-SHA256 of the PAN under a key derived from the data key, hex */
  panHmac: string;
}

const VERSION = 'v1';

/**
 * One stored PAN cannot be read (tampered, truncated, not our format): that card is bad, not the run.
 * A PAN under an unknown key is a plain PermanentError instead: a wrong key configured would fail
 * every card, which is the operator's to fix, not a reason to set every card aside.
 */
export class PanIntegrityError extends PermanentError {
  override name = 'PanIntegrityError';
}

/** AES-256-GCM encryption of PANs under one data key (plus, during rotation, the previous one). */
export class PanCipher {
  readonly keyId: string;
  private readonly hmacKey: Buffer;
  private readonly previous?: PanCipher;
  // made once: a million decryptions per batch make every per-call allocation count
  private readonly decryptor: GcmDecryptor;
  private readonly prefix: string;

  constructor(private readonly key: Buffer, previousKey?: Buffer) {
    if (key.length !== 32) throw new PermanentError('PAN data key must be 32 bytes');
    this.keyId = keyIdOf(key);
    this.decryptor = new GcmDecryptor(key, Buffer.from(this.keyId));
    this.prefix = `${VERSION}:${this.keyId}:`;
    this.hmacKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'bureau-exchange pan hmac', 32));
    if (previousKey) this.previous = new PanCipher(previousKey);
  }

  encrypt(pan: string): StoredPan {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(this.keyId));
    const body = Buffer.concat([cipher.update(pan, 'utf8'), cipher.final()]);
    const packed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
    return { panEnc: `${VERSION}:${this.keyId}:${packed}`, panLast4: pan.slice(-4), panHmac: this.lookupHash(pan) };
  }

  /** Decrypts; a tampered value or one under an unknown key throws (never returns garbage). */
  decrypt(panEnc: string): string {
    if (!panEnc.startsWith(this.prefix)) return this.decryptOther(panEnc);
    const raw = Buffer.from(panEnc.slice(this.prefix.length), 'base64');
    if (raw.length < 12 + 16 + 1) throw new PanIntegrityError('stored PAN is truncated');
    const pan = this.decryptor.open(raw.subarray(0, 12), raw.subarray(12, raw.length - 16), raw.subarray(raw.length - 16));
    if (!pan) throw new PanIntegrityError('stored PAN failed its integrity check (tampered or wrong key)');
    return pan.toString('utf8');
  }

  /** A value not under the current key: under the previous one during rotation, else refused. */
  private decryptOther(panEnc: string): string {
    const [version, keyId, packed] = panEnc.split(':');
    if (version !== VERSION || !keyId || !packed) throw new PanIntegrityError('stored PAN has an unknown format');
    if (this.previous && keyId === this.previous.keyId) return this.previous.decrypt(panEnc);
    throw new PermanentError(`stored PAN is encrypted under key ${keyId}, not the configured key ${this.keyId}`);
  }

  lookupHash(pan: string): string {
    return createHmac('sha256', this.hmacKey).update(pan).digest('hex');
  }

  /** The key material, to make the same cipher on a worker thread (in memory only; never logged). */
  keyMaterial(): { key: Buffer; previousKey?: Buffer } {
    return { key: this.key, ...(this.previous ? { previousKey: this.previous.key } : {}) };
  }

  /** Whether a stored value is under the current key (rotation skips those). */
  isCurrent(panEnc: string): boolean {
    return panEnc.startsWith(this.prefix);
  }
}

/** A short, non-secret identifier of a key: the first 8 hex digits of its SHA-256. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}
