/**
 * PAN decryption, side by side in one run: PanCipher.decrypt (src/security/gcm.ts's AES-GCM opening)
 * and Node's createDecipheriv per PAN, which it replaced.
 *
 *   node --import tsx bench/pan-decrypt.ts [count=200000]
 */
import { createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { PanCipher } from '../src/security/pan.js';

const count = Number(process.argv[2] ?? 200_000);
const key = randomBytes(32);
const cipher = new PanCipher(key);
const stored = Array.from({ length: count }, (_, i) => cipher.encrypt(String(4111111111000000 + i)).panEnc);
const secret = createSecretKey(key);
const aad = Buffer.from(cipher.keyId);

function nodeDecrypt(panEnc: string): string {
  const raw = Buffer.from(panEnc.slice(panEnc.lastIndexOf(':') + 1), 'base64');
  const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, 12));
  decipher.setAAD(aad);
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  const pan = decipher.update(raw.subarray(12, raw.length - 16));
  decipher.final();
  return pan.toString('utf8');
}

const ways: Record<string, (panEnc: string) => string> = { 'PanCipher.decrypt': (p) => cipher.decrypt(p), 'createDecipheriv per PAN': nodeDecrypt };
for (let round = 1; round <= 3; round++) {
  for (const [name, decrypt] of Object.entries(ways)) {
    const start = performance.now();
    let digits = 0;
    for (const panEnc of stored) digits += decrypt(panEnc).length;
    if (digits !== 16 * count) throw new Error(`${name} decrypted wrongly`);
    console.log(`round ${round} ${name.padEnd(26)} ${(((performance.now() - start) * 1000) / count).toFixed(2)} µs per PAN`);
  }
}
