import { createCipheriv, randomBytes } from 'node:crypto';
import { keyIdOf, PanCipher, type StoredPan } from '../../src/security/pan.js';

/**
 * A PAN in the old stored format (`v1:<keyId>:<base64 iv|ciphertext|tag>`, AES-256-GCM whose AAD is
 * the key id only, not bound to a card), as releases before the card-bound format wrote it: the
 * values a database may still hold, for tests and benchmarks of reading and rotating them.
 */
export function legacyStoredPan(key: Buffer, pan: string): StoredPan {
  const keyId = keyIdOf(key);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(keyId));
  const body = Buffer.concat([cipher.update(pan, 'utf8'), cipher.final()]);
  const packed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
  return { panEnc: `v1:${keyId}:${packed}`, panLast4: pan.slice(-4), panHmac: new PanCipher(key).lookupHash(pan) };
}
