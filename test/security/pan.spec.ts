import { strict as assert } from 'node:assert';
import { PanCipher } from '../../src/security/pan.js';
import { luhnValid, maskPan, maskPansInText } from '../../src/security/mask.js';
import { newPanKey } from '../helpers/db.js';

describe('PAN encryption at rest', () => {
  const cipher = new PanCipher(newPanKey());

  it('round-trips and keeps last four digits and a stable look-up hash', () => {
    const stored = cipher.encrypt('4111111111111111');
    assert.equal(cipher.decrypt(stored.panEnc), '4111111111111111');
    assert.equal(stored.panLast4, '1111');
    assert.ok(!stored.panEnc.includes('4111111111111111'));
    assert.equal(cipher.encrypt('4111111111111111').panHmac, stored.panHmac);
    assert.notEqual(cipher.encrypt('4111111111111111').panEnc, stored.panEnc, 'a fresh IV each time');
  });

  it('detects tampering', () => {
    const stored = cipher.encrypt('4111111111111111');
    const [v, id, packed] = stored.panEnc.split(':');
    const raw = Buffer.from(packed!, 'base64');
    raw[14] ^= 1;
    assert.throws(() => cipher.decrypt(`${v}:${id}:${raw.toString('base64')}`), /integrity/);
  });

  it('refuses a value under another key, and reads it with the previous key during rotation', () => {
    const oldKey = newPanKey();
    const stored = new PanCipher(oldKey).encrypt('5500000000000004');
    assert.throws(() => cipher.decrypt(stored.panEnc), /not the configured key/);
    const rotating = new PanCipher(newPanKey(), oldKey);
    assert.equal(rotating.decrypt(stored.panEnc), '5500000000000004');
    assert.equal(rotating.isCurrent(stored.panEnc), false);
  });
});

describe('PAN masking', () => {
  it('shows at most the first six and last four digits', () => {
    assert.equal(maskPan('4111111111111111'), '411111******1111');
    assert.equal(maskPan('4111 1111 1111 1111'), '411111******1111');
    assert.equal(maskPan('123'), '***');
  });

  it('checks Luhn', () => {
    assert.ok(luhnValid('4111111111111111'));
    assert.ok(!luhnValid('4111111111111112'));
  });

  it('masks PAN-looking numbers in free text, grouped or not', () => {
    const text = 'card 4111111111111111, again 4111-1111-1111-1111 and 5500 0000 0000 0004; amount 1234';
    const masked = maskPansInText(text);
    assert.ok(!/4111111111111111|4111-1111-1111-1111|5500 0000 0000 0004/.test(masked), masked);
    assert.ok(masked.includes('411111******1111') && masked.includes('550000******0004') && masked.includes('1234'));
  });
});
