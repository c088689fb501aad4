import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { PanCipher, PanIntegrityError, type PanRow } from '../../src/security/pan.js';
import { luhnValid, maskPan, maskPansInText } from '../../src/security/mask.js';
import { newPanKey } from '../helpers/db.js';
import { legacyStoredPan } from '../helpers/legacy-pan.js';

/** Seeded (BX_TEST_SEED to replay; fast-check prints the seed of a failure), bounded in runs and time. */
const SEED = Number(process.env.BX_TEST_SEED ?? Date.now() % 2 ** 31);
const params = { seed: SEED, numRuns: 300, interruptAfterTimeLimit: 20_000 };

const digits = (min: number, max: number) => fc.stringMatching(new RegExp(`^[0-9]{${min},${max}}$`));
const id = fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,18}$/));
const card = fc.record({ pan: digits(12, 19), contractNumber: id, plasticId: id });

function rowOf(c: { pan: string; contractNumber: string; plasticId: string }): PanRow {
  return { contractNumber: c.contractNumber, plasticId: c.plasticId, panLast4: c.pan.slice(-4) };
}

/** The stored value with one byte of its base64 body changed (iv, ciphertext or tag). */
function withByteChanged(panEnc: string, index: number, xor: number): string {
  const at = panEnc.lastIndexOf(':') + 1;
  const raw = Buffer.from(panEnc.slice(at), 'base64');
  raw[index % raw.length] ^= xor;
  return panEnc.slice(0, at) + raw.toString('base64');
}

const refusedAsNotThisCards = (err: unknown) => err instanceof PanIntegrityError;

describe(`PAN encryption at rest (fast-check seed ${SEED})`, () => {
  const key = newPanKey();
  const cipher = new PanCipher(key);
  const other = new PanCipher(newPanKey());

  it('round-trips random PANs and ids, keeps the last four digits and a stable look-up hash', () => {
    fc.assert(fc.property(card, (c) => {
      const stored = cipher.encrypt(c.pan, c);
      assert.ok(stored.panEnc.startsWith(`v2:${cipher.keyId}:`));
      assert.ok(!stored.panEnc.includes(c.pan));
      assert.equal(stored.panLast4, c.pan.slice(-4));
      assert.equal(cipher.decrypt(stored.panEnc, { ...rowOf(c), panHmac: stored.panHmac }), c.pan);
      assert.equal(cipher.lookupHash(c.pan), stored.panHmac);
      assert.notEqual(cipher.encrypt(c.pan, c).panEnc, stored.panEnc, 'a fresh IV each time');
    }), params);
  });

  it('does not open for another contract id, plastic id, key id or any changed byte', () => {
    fc.assert(fc.property(card, id, id, fc.nat(), fc.integer({ min: 1, max: 255 }), (c, contractNumber, plasticId, at, xor) => {
      const stored = cipher.encrypt(c.pan, c);
      const row = rowOf(c);
      if (contractNumber !== c.contractNumber) {
        assert.throws(() => cipher.decrypt(stored.panEnc, { ...row, contractNumber }), refusedAsNotThisCards);
      }
      if (plasticId !== c.plasticId) assert.throws(() => cipher.decrypt(stored.panEnc, { ...row, plasticId }), refusedAsNotThisCards);
      // ids swapped between the two fields are another card too
      if (c.contractNumber !== c.plasticId) {
        assert.throws(() => cipher.decrypt(stored.panEnc, { ...row, contractNumber: c.plasticId, plasticId: c.contractNumber }), refusedAsNotThisCards);
      }
      assert.throws(() => cipher.decrypt(withByteChanged(stored.panEnc, at, xor), row), refusedAsNotThisCards);
      // the same body under another key id: with that key configured it does not open; relabelled as the old format neither
      const body = stored.panEnc.slice(stored.panEnc.lastIndexOf(':') + 1);
      assert.throws(() => other.decrypt(`v2:${other.keyId}:${body}`, row), refusedAsNotThisCards);
      assert.throws(() => cipher.decrypt(`v1:${cipher.keyId}:${body}`, row), refusedAsNotThisCards);
      assert.throws(() => new PanCipher(newPanKey(), key).decrypt(stored.panEnc.replace(cipher.keyId, other.keyId), row), /not the configured key/);
    }), params);
  });

  it('refuses a value whose PAN does not end in the row\'s last four digits (or its look-up hash)', () => {
    fc.assert(fc.property(card, digits(4, 4), (c, last4) => {
      fc.pre(last4 !== c.pan.slice(-4));
      const stored = cipher.encrypt(c.pan, c);
      assert.throws(() => cipher.decrypt(stored.panEnc, { ...rowOf(c), panLast4: last4 }), /last four digits/);
      assert.throws(() => cipher.decrypt(stored.panEnc, { ...rowOf(c), panHmac: cipher.lookupHash(`${c.pan}0`) }), /look-up hash/);
    }), params);
  });

  it('reads the old format (bound to the key only), checked against the last four digits', () => {
    fc.assert(fc.property(card, card, (a, b) => {
      const old = legacyStoredPan(key, a.pan);
      assert.equal(cipher.decrypt(old.panEnc, rowOf(a)), a.pan);
      assert.equal(cipher.isCurrent(old.panEnc), false);
      // moved to another card: caught by the last four digits when they differ, by the hash when given
      if (b.pan.slice(-4) !== a.pan.slice(-4)) assert.throws(() => cipher.decrypt(old.panEnc, rowOf(b)), /last four digits/);
      if (b.pan !== a.pan) assert.throws(() => cipher.decrypt(old.panEnc, { ...rowOf(b), panLast4: a.pan.slice(-4), panHmac: cipher.lookupHash(b.pan) }), /look-up hash/);
      assert.throws(() => cipher.decrypt(withByteChanged(old.panEnc, 20, 1), rowOf(a)), refusedAsNotThisCards);
    }), { ...params, numRuns: 100 });
  });

  it('refuses a value under another key, and reads it with the previous key during rotation', () => {
    const oldKey = newPanKey();
    const c = { pan: '5500000000000004', contractNumber: '77', plasticId: '8' };
    const stored = new PanCipher(oldKey).encrypt(c.pan, c);
    assert.throws(() => cipher.decrypt(stored.panEnc, rowOf(c)), (err: Error) => !(err instanceof PanIntegrityError) && /not the configured key/.test(err.message));
    const rotating = new PanCipher(newPanKey(), oldKey);
    assert.equal(rotating.decrypt(stored.panEnc, rowOf(c)), c.pan);
    assert.equal(rotating.decrypt(legacyStoredPan(oldKey, c.pan).panEnc, rowOf(c)), c.pan);
    assert.equal(rotating.isCurrent(stored.panEnc), false);
    assert.throws(() => rotating.decrypt(stored.panEnc, { ...rowOf(c), plasticId: '9' }), refusedAsNotThisCards);
  });

  it('refuses unknown formats, truncated values and ids it cannot bind', () => {
    const c = { pan: '4111111111111111', contractNumber: '1', plasticId: '2' };
    for (const bad of ['', 'x', 'v3:abcd:AAAA', `v2:${cipher.keyId}`, `v2:${cipher.keyId}:AAAA`, `v2:${cipher.keyId}:AAAA:extra`]) {
      assert.throws(() => cipher.decrypt(bad, rowOf(c)), refusedAsNotThisCards, JSON.stringify(bad));
    }
    assert.throws(() => cipher.encrypt(c.pan, { ...c, plasticId: '' }), /plastic id/);
    assert.throws(() => cipher.encrypt(c.pan, { ...c, contractNumber: '1\u00002' }), /NUL/);
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

  it('masks a PAN grouped by tabs or two spaces; leaves our file names and an IPv4 address', () => {
    for (const pan of ['4111\t1111\t1111\t1111', '4111  1111  1111  1111', '4111 -1111- 1111 1111']) {
      assert.equal(maskPansInText(`pasted ${pan} here`), 'pasted 411111******1111 here', JSON.stringify(pan));
    }
    // 12 digits, Luhn-valid: as one run it would be masked
    assert.ok(luhnValid('192168100209'));
    assert.equal(maskPansInText('connect ECONNREFUSED 192.168.100.209:22'), 'connect ECONNREFUSED 192.168.100.209:22');
    // a date and a sequence, 14 digits, Luhn-valid: a file name the receive matches to its batch
    assert.ok(luhnValid('20261126000003'));
    assert.equal(maskPansInText('BXISSUER_PERSO_20261126_000003.dat.pgp'), 'BXISSUER_PERSO_20261126_000003.dat.pgp');
  });
});
