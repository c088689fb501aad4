import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { PermanentError } from '../errors.js';

/** A PAN as stored: ciphertext, last four digits, and a keyed hash for look-up. */
export interface StoredPan {
  /** `v1:<keyId>:<base64 iv|ciphertext|tag>` */
  panEnc: string;
  panLast4: string;
  /** HMAC-SHA256 of the PAN under a key derived from the data key, hex */
  panHmac: string;
}

const VERSION = 'v1';

/** AES-256-GCM encryption of PANs under one data key (plus, during rotation, the previous one). */
export class PanCipher {
  readonly keyId: string;
  private readonly hmacKey: Buffer;
  private readonly previous?: PanCipher;

  constructor(private readonly key: Buffer, previousKey?: Buffer) {
    if (key.length !== 32) throw new PermanentError('PAN data key must be 32 bytes');
    this.keyId = keyIdOf(key);
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
    const [version, keyId, packed] = panEnc.split(':');
    if (version !== VERSION || !keyId || !packed) throw new PermanentError('stored PAN has an unknown format');
    if (keyId !== this.keyId) {
      if (this.previous && keyId === this.previous.keyId) return this.previous.decrypt(panEnc);
      throw new PermanentError(`stored PAN is encrypted under key ${keyId}, not the configured key ${this.keyId}`);
    }
    const raw = Buffer.from(packed, 'base64');
    if (raw.length < 12 + 16 + 1) throw new PermanentError('stored PAN is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(keyId));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    try {
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new PermanentError('stored PAN failed its integrity check (tampered or wrong key)', { cause: err });
    }
  }

  lookupHash(pan: string): string {
    return createHmac('sha256', this.hmacKey).update(pan).digest('hex');
  }

  /** Whether a stored value is under the current key (rotation skips those). */
  isCurrent(panEnc: string): boolean {
    return panEnc.startsWith(`${VERSION}:${this.keyId}:`);
  }
}

/** A short, non-secret identifier of a key: the first 8 hex digits of its SHA-256. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}
