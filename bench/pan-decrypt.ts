/**
 * PAN decryption per card, side by side in one run, all through Node's crypto: PanCipher.decrypt of
 * the card-bound format (v2: AAD of key id + contract id + plastic id, last four digits checked), of
 * the old format (v1: AAD of the key id), and a bare createDecipheriv per PAN (no format or card
 * checks) as the floor.
 *
 * CPU time per PAN is the figure to compare on a shared machine (wall time waits for a core).
 *
 *   node --import tsx bench/pan-decrypt.ts [count=200000]
 */
import { createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import { PanCipher, type PanRow } from '../src/security/pan.js';
import { legacyStoredPan } from '../test/helpers/legacy-pan.js';

const count = Number(process.argv[2] ?? 200_000);
const key = randomBytes(32);
const cipher = new PanCipher(key);
const cards: PanRow[] = Array.from({ length: count }, (_, i) => ({ contractNumber: String(1_000_000 + i), plasticId: String(5_000_000 + i), panLast4: String(1000 + (i % 9000)) }));
const pans = cards.map((c, i) => `411111111${String(i % 10).repeat(3)}${c.panLast4}`);
const current = cards.map((c, i) => cipher.encrypt(pans[i]!, c).panEnc);
const legacy = pans.map((p) => legacyStoredPan(key, p).panEnc);
const secret = createSecretKey(key);
const aad = Buffer.from(cipher.keyId);

function bareDecrypt(panEnc: string): string {
  const raw = Buffer.from(panEnc.slice(panEnc.lastIndexOf(':') + 1), 'base64');
  const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, 12));
  decipher.setAAD(aad);
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  const pan = decipher.update(raw.subarray(12, raw.length - 16));
  decipher.final();
  return pan.toString('utf8');
}

const ways: Record<string, (i: number) => string> = {
  'PanCipher.decrypt, v2 (card-bound)': (i) => cipher.decrypt(current[i]!, cards[i]!),
  'PanCipher.decrypt, v1 (old format)': (i) => cipher.decrypt(legacy[i]!, cards[i]!),
  'bare createDecipheriv, v1': (i) => bareDecrypt(legacy[i]!),
};
for (let round = 1; round <= 3; round++) {
  for (const [name, decrypt] of Object.entries(ways)) {
    const start = performance.now();
    const cpu = process.cpuUsage();
    let digits = 0;
    for (let i = 0; i < count; i++) digits += decrypt(i).length;
    const { user, system } = process.cpuUsage(cpu);
    if (digits !== 16 * count) throw new Error(`${name} decrypted wrongly`);
    const wall = ((performance.now() - start) * 1000) / count;
    console.log(`round ${round} ${name.padEnd(36)} ${((user + system) / count).toFixed(2)} µs CPU per PAN (wall ${wall.toFixed(2)})`);
  }
}
