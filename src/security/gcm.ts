import { createCipheriv, type Cipher } from 'node:crypto';

/**
 * AES-GCM decryption (NIST SP 800-38D) of many short messages under one key and one AAD, as the
 * PANs of a batch are. Node's createDecipheriv makes a native cipher and key schedule for every
 * message (~8 µs a PAN, most of the file thread's time at a million cards); here one AES-ECB cipher,
 * made once, encrypts each message's counter blocks, and GHASH runs on tables made once for the key
 * (about half the time per PAN: bench/pan-decrypt.ts). Only 96-bit IVs and 16-byte tags (those we write). test/security/gcm.spec.ts checks it
 * against Node's own AES-GCM, tampered messages included.
 */
export class GcmDecryptor {
  /** no chaining and no padding: each update is independent, so one cipher serves every message */
  private readonly ecb: Cipher;
  /** GHASH by the key's H: entry (i, b) is byte value b at byte i of a block, times H (4 words each) */
  private readonly table: Uint32Array;
  /** GHASH after the (same for every message) additional authenticated data */
  private readonly afterAad: Uint32Array;
  private readonly aadBits: number;
  private readonly state = new Uint32Array(4);
  private readonly partial = Buffer.alloc(16);

  constructor(key: Buffer, aad: Buffer) {
    this.ecb = createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false);
    this.table = multiplicationTable(wordsOf(this.ecb.update(Buffer.alloc(16))));
    for (let at = 0; at < aad.length; at += 16) this.absorb(aad, at);
    this.afterAad = this.state.slice();
    this.aadBits = aad.length * 8;
  }

  /** The plaintext, or null when the tag does not match (tampered, truncated or under another key). */
  open(iv: Buffer, ciphertext: Buffer, tag: Buffer): Buffer | null {
    if (iv.length !== 12 || tag.length !== 16) return null;
    const blocks = Math.ceil(ciphertext.length / 16);
    // J0 = IV || 1 (its key stream masks the tag), then IV || 2, IV || 3, … for the text
    const counters = Buffer.allocUnsafe(16 * (blocks + 1));
    for (let j = 0; j <= blocks; j++) {
      iv.copy(counters, 16 * j);
      counters.writeUInt32BE(j + 1, 16 * j + 12);
    }
    const stream = this.ecb.update(counters);

    this.state.set(this.afterAad);
    for (let at = 0; at < ciphertext.length; at += 16) this.absorb(ciphertext, at);
    // the lengths block: bits of AAD and of text, 64-bit big-endian each
    const s = this.state;
    s[1]! ^= this.aadBits;
    s[3]! ^= ciphertext.length * 8;
    this.multiply();
    let difference = 0;
    for (let w = 0; w < 4; w++) difference |= (s[w]! ^ stream.readUInt32BE(4 * w) ^ tag.readUInt32BE(4 * w)) >>> 0;
    if (difference !== 0) return null;

    const plain = Buffer.allocUnsafe(ciphertext.length);
    for (let i = 0; i < ciphertext.length; i++) plain[i] = ciphertext[i]! ^ stream[16 + i]!;
    return plain;
  }

  /** state = (state XOR the 16 bytes at `at`, zero-padded) · H */
  private absorb(data: Buffer, at: number): void {
    let block = data;
    if (at + 16 > data.length) {
      this.partial.fill(0);
      data.copy(this.partial, 0, at);
      block = this.partial;
      at = 0;
    }
    const s = this.state;
    for (let w = 0; w < 4; w++) s[w]! ^= block.readUInt32BE(at + 4 * w);
    this.multiply();
  }

  /** state = state · H in GCM's field, one table entry per byte of the state */
  private multiply(): void {
    const s = this.state;
    const t = this.table;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    for (let i = 0; i < 16; i++) {
      const k = ((i << 8) | ((s[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff)) << 2;
      z0 ^= t[k]!;
      z1 ^= t[k + 1]!;
      z2 ^= t[k + 2]!;
      z3 ^= t[k + 3]!;
    }
    s[0] = z0;
    s[1] = z1;
    s[2] = z2;
    s[3] = z3;
  }
}

function wordsOf(block: Buffer): Uint32Array {
  return Uint32Array.of(block.readUInt32BE(0), block.readUInt32BE(4), block.readUInt32BE(8), block.readUInt32BE(12));
}

/**
 * Every byte value at every byte position, times h. Multiplication is linear: a byte's product is the
 * XOR of its bits' products, so eight slow multiplications per position make its 256 entries.
 */
function multiplicationTable(h: Uint32Array): Uint32Array {
  const table = new Uint32Array(16 * 256 * 4);
  const x = new Uint32Array(4);
  for (let i = 0; i < 16; i++) {
    const ofBit: Uint32Array[] = [];
    for (let bit = 0; bit < 8; bit++) {
      x.fill(0);
      x[i >> 2] = (1 << bit) << (24 - 8 * (i & 3));
      ofBit.push(multiplySlowly(x, h));
    }
    for (let b = 1; b < 256; b++) {
      const lowest = b & -b;
      const product = ofBit[31 - Math.clz32(lowest)]!;
      const at = ((i << 8) | b) << 2;
      const rest = ((i << 8) | (b ^ lowest)) << 2;
      for (let w = 0; w < 4; w++) table[at + w] = table[rest + w]! ^ product[w]!;
    }
  }
  return table;
}

/** x · y bit by bit, as SP 800-38D (Algorithm 1) writes it: bit 0 is the most significant of byte 0. */
function multiplySlowly(x: Uint32Array, y: Uint32Array): Uint32Array {
  const z = new Uint32Array(4);
  const v = y.slice();
  for (let bit = 0; bit < 128; bit++) {
    if ((x[bit >> 5]! >>> (31 - (bit & 31))) & 1) for (let w = 0; w < 4; w++) z[w]! ^= v[w]!;
    const carry = v[3]! & 1;
    v[3] = (v[3]! >>> 1) | (v[2]! << 31);
    v[2] = (v[2]! >>> 1) | (v[1]! << 31);
    v[1] = (v[1]! >>> 1) | (v[0]! << 31);
    v[0] = v[0]! >>> 1;
    if (carry) v[0]! ^= 0xe1000000;
  }
  return z;
}
