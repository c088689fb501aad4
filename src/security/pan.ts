import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { PermanentError } from '../errors.js';

/** The card a PAN belongs to: its contract number and plastic id, canonical, as stored in its row. */
export interface PanCard {
  contractNumber: string;
  plasticId: string;
}

/** What a stored PAN is checked against once decrypted: its card and the row's other PAN columns. */
export interface PanRow extends PanCard {
  panLast4: string;
  /** checked when given (the rotation reads it; the send does not) */
  panHmac?: string;
}

/** A PAN as stored: ciphertext, last four digits, and a keyed hash for look-up. */
export interface StoredPan {
  /** `v2:<keyId>:<base64 iv|ciphertext|tag>` */
  panEnc: string;
  panLast4: string;
  /** HMAC-SHA256 of the PAN under a key derived from the data key, hex */
  panHmac: string;
}

/** Bound to its card: the AAD is the version, the key id, the contract number and the plastic id. */
const CURRENT = 'v2';
/** Bound to the key only (AAD: the key id): still read, moved to CURRENT by `keys rotate-pan`. */
const LEGACY = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** IV, the longest PAN (19 digits) and tag: a longer stored value is not ours */
const MAX_RAW_BYTES = IV_BYTES + 19 + TAG_BYTES;
/** ids longer than this (characters, both) are not ours either: their AAD is built the slow way */
const MAX_IDS_CHARS = 64;

/**
 * One stored PAN cannot be read or is not its card's (tampered, truncated, moved from another row,
 * not our format): that card is bad, not the run. A PAN under an unknown key is a plain
 * PermanentError instead: a wrong key configured would fail every card, which is the operator's to
 * fix, not a reason to set every card aside.
 */
export class PanIntegrityError extends PermanentError {
  override name = 'PanIntegrityError';
}

/** A stored value under a key that is configured neither as current nor as previous: fatal to a send, shown as such in a listing. */
export class PanKeyError extends PermanentError {
  override name = 'PanKeyError';
  constructor(readonly keyId: string, message: string) {
    super(message);
  }
}

/**
 * AES-256-GCM encryption of PANs under one data key (plus, during rotation, the previous one), all
 * through Node's crypto (OpenSSL). A value is bound to its card by the AAD, so a ciphertext copied
 * into another row does not open there; and once opened it must end in the row's last four digits.
 */
export class PanCipher {
  readonly keyId: string;
  private readonly secret: KeyObject;
  private readonly hmacKey: Buffer;
  private readonly previous?: PanCipher;
  private readonly currentPrefix: string;
  private readonly legacyPrefix: string;
  private readonly legacyAad: Buffer;
  // Reused by every decryption (synchronous; Node copies IV, AAD and tag in): at a million PANs a
  // batch, fewer short-lived buffers to collect. Views of them are made once per length.
  private readonly raw = Buffer.alloc(MAX_RAW_BYTES);
  private readonly rawViews: Array<{ iv: Buffer; text: Buffer; tag: Buffer }> = [];
  private readonly aad = Buffer.alloc(256);
  private readonly aadViews: Buffer[] = [];
  private readonly aadHead: number;

  constructor(private readonly key: Buffer, previousKey?: Buffer) {
    if (key.length !== 32) throw new PermanentError('PAN data key must be 32 bytes');
    this.keyId = keyIdOf(key);
    this.secret = createSecretKey(key);
    this.currentPrefix = `${CURRENT}:${this.keyId}:`;
    this.legacyPrefix = `${LEGACY}:${this.keyId}:`;
    this.legacyAad = Buffer.from(this.keyId);
    this.aadHead = this.aad.write(`${CURRENT}\0${this.keyId}\0`, 0, 'utf8');
    this.hmacKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'bureau-exchange pan hmac', 32));
    if (previousKey) this.previous = new PanCipher(previousKey);
  }

  /** The PAN of `card`, encrypted under the current key in the current format. */
  encrypt(pan: string, card: PanCard): StoredPan {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.secret, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aadOf(card, true));
    const body = Buffer.concat([cipher.update(pan, 'utf8'), cipher.final()]);
    const packed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
    return { panEnc: this.currentPrefix + packed, panLast4: pan.slice(-4), panHmac: this.lookupHash(pan) };
  }

  /**
   * The PAN stored in `row`. Throws PanIntegrityError when the value is tampered with, not this
   * card's, or does not match the row's last four digits (or look-up hash, when given); a
   * PermanentError when it is under a key that is not configured. Never returns another card's PAN.
   */
  decrypt(panEnc: string, row: PanRow): string {
    let pan: string;
    if (panEnc.startsWith(this.currentPrefix)) pan = this.open(panEnc, this.currentPrefix.length, this.aadOf(row, false));
    else if (panEnc.startsWith(this.legacyPrefix)) pan = this.open(panEnc, this.legacyPrefix.length, this.legacyAad);
    else return this.decryptOther(panEnc, row);
    // exactly what encrypt wrote (a PAN of fewer than four digits is its own last four: the import
    // takes 1 to 19 digits, and the send's check names a short one for its length); an emptied or
    // shortened pan_last4 vouches for nothing
    if (pan.slice(-4) !== row.panLast4) {
      throw new PanIntegrityError("stored PAN does not match the card's last four digits: the ciphertext was moved from another card or changed");
    }
    if (row.panHmac !== undefined && this.lookupHash(pan) !== row.panHmac) {
      throw new PanIntegrityError("stored PAN does not match the card's look-up hash: the ciphertext was moved from another card or changed");
    }
    return pan;
  }

  /** Whether a stored value is in the current format under the current key (rotation skips those). */
  isCurrent(panEnc: string): boolean {
    return panEnc.startsWith(this.currentPrefix);
  }

  lookupHash(pan: string): string {
    return createHmac('sha256', this.hmacKey).update(pan).digest('hex');
  }

  /** The key material, to make the same cipher on a worker thread (in memory only; never logged). */
  keyMaterial(): { key: Buffer; previousKey?: Buffer } {
    return { key: this.key, ...(this.previous ? { previousKey: this.previous.key } : {}) };
  }

  /** A value not under the current key: under the previous one during rotation, else refused. */
  private decryptOther(panEnc: string, row: PanRow): string {
    const [version, keyId, packed, ...rest] = panEnc.split(':');
    if ((version !== CURRENT && version !== LEGACY) || !keyId || !packed || rest.length) {
      throw new PanIntegrityError('stored PAN has an unknown format');
    }
    if (this.previous && keyId === this.previous.keyId) return this.previous.decrypt(panEnc, row);
    // it fails the whole run: the operator needs the row to find out where it came from (ids are not secret)
    const previous = this.previous ? ` nor the previous key ${this.previous.keyId}` : '';
    throw new PanKeyError(keyId, `stored PAN is encrypted under key ${keyId}, not the configured key ${this.keyId}${previous} `
      + `(contract ${row.contractNumber} plastic ${row.plasticId})`);
  }

  /** AES-256-GCM opening by Node's crypto: the plaintext only once the tag checked out. */
  private open(panEnc: string, bodyAt: number, aad: Buffer): string {
    if (panEnc.length - bodyAt > Math.ceil(MAX_RAW_BYTES / 3) * 4) throw new PanIntegrityError('stored PAN is too long to be ours');
    const length = this.raw.write(panEnc.slice(bodyAt), 0, 'base64');
    if (length < IV_BYTES + 1 + TAG_BYTES) throw new PanIntegrityError('stored PAN is truncated');
    const { iv, text, tag } = (this.rawViews[length] ??= {
      iv: this.raw.subarray(0, IV_BYTES), text: this.raw.subarray(IV_BYTES, length - TAG_BYTES), tag: this.raw.subarray(length - TAG_BYTES, length),
    });
    const decipher = createDecipheriv('aes-256-gcm', this.secret, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const pan = decipher.update(text);
    try {
      decipher.final();
    } catch {
      throw new PanIntegrityError("stored PAN failed its integrity check: it is not this card's (moved from another row), was changed, or is under another key");
    }
    return pan.toString('utf8');
  }

  /**
   * The current format's AAD: version, key id, contract id, plastic id, NUL between them (UTF-8).
   * Encryption refuses a NUL inside an id, so no two cards (ids are digits) share an AAD.
   */
  private aadOf(card: PanCard, encrypting: boolean): Buffer {
    const { contractNumber, plasticId } = card;
    if (encrypting && (!contractNumber || !plasticId || contractNumber.includes('\0') || plasticId.includes('\0'))) {
      throw new PermanentError('a PAN is bound to a non-empty contract id and plastic id without NUL');
    }
    if (contractNumber.length + plasticId.length > MAX_IDS_CHARS) return Buffer.from(`${CURRENT}\0${this.keyId}\0${contractNumber}\0${plasticId}`, 'utf8');
    // written into the reused buffer: the view is only read by setAAD, before the next call
    let at = this.aadHead + this.aad.write(contractNumber, this.aadHead, 'utf8');
    this.aad[at++] = 0;
    at += this.aad.write(plasticId, at, 'utf8');
    return (this.aadViews[at] ??= this.aad.subarray(0, at));
  }
}

/** A short, non-secret identifier of a key: the first 8 hex digits of its SHA-256. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}
