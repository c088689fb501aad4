import { strict as assert } from 'node:assert';
import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import { GcmDecryptor } from '../../src/security/gcm.js';

function sealed(key: Buffer, aad: Buffer, plain: Buffer) {
  const iv = randomBytes(12);
  const cipher = createCipheriv(`aes-${key.length * 8}-gcm` as 'aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

describe('GcmDecryptor (AES-GCM opening, checked against Node/OpenSSL)', () => {
  it('opens what Node seals: random keys, AAD and text lengths 0–70 bytes, 2000 messages', () => {
    for (let round = 0; round < 20; round++) {
      const key = randomBytes(round % 2 ? 32 : 16);
      const aad = randomBytes(randomInt(0, 41));
      const opener = new GcmDecryptor(key, aad);
      for (let m = 0; m < 100; m++) {
        const plain = randomBytes(randomInt(0, 71));
        const { iv, ciphertext, tag } = sealed(key, aad, plain);
        assert.deepEqual(opener.open(iv, ciphertext, tag), plain, `key ${key.length} B, aad ${aad.length} B, text ${plain.length} B`);
      }
    }
  });

  it('the NIST test vector (SP 800-38D test case 16: AES-256, 96-bit IV, AAD, 60-byte text)', () => {
    const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
    const opener = new GcmDecryptor(
      hex('feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308'),
      hex('feedfacedeadbeeffeedfacedeadbeef abaddad2'),
    );
    const plain = opener.open(
      hex('cafebabefacedbaddecaf888'),
      hex(`522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa 8cb08e48590dbb3da7b08b1056828838
           c5f61e6393ba7a0abcc9f662`),
      hex('76fc6ece0f4e1768cddf8853bb2d551b'),
    );
    assert.equal(plain?.toString('hex'), 'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39');
  });

  it('refuses any changed byte of IV, text or tag, another AAD, another key, or a short tag', () => {
    const key = randomBytes(32);
    const aad = Buffer.from('0a1b2c3d');
    const opener = new GcmDecryptor(key, aad);
    const { iv, ciphertext, tag } = sealed(key, aad, Buffer.from('4111111111111111'));
    const flipped = (b: Buffer, i: number) => {
      const c = Buffer.from(b);
      c[i]! ^= 1;
      return c;
    };
    for (let i = 0; i < 12; i++) assert.equal(opener.open(flipped(iv, i), ciphertext, tag), null, `iv byte ${i}`);
    for (let i = 0; i < ciphertext.length; i++) assert.equal(opener.open(iv, flipped(ciphertext, i), tag), null, `text byte ${i}`);
    for (let i = 0; i < 16; i++) assert.equal(opener.open(iv, ciphertext, flipped(tag, i)), null, `tag byte ${i}`);
    assert.equal(opener.open(iv, ciphertext.subarray(0, 15), tag), null, 'truncated text');
    assert.equal(opener.open(iv, ciphertext, tag.subarray(0, 12)), null, 'short tag');
    assert.equal(new GcmDecryptor(key, Buffer.from('0a1b2c3e')).open(iv, ciphertext, tag), null, 'other AAD');
    assert.equal(new GcmDecryptor(randomBytes(32), aad).open(iv, ciphertext, tag), null, 'other key');
    assert.equal(opener.open(iv, ciphertext, tag)?.toString(), '4111111111111111', 'the untouched message still opens');
  });
});
