import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { Config } from '../../src/config/schema.js';
import { PanCipher, PanIntegrityError } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import type { SshdServer } from '../helpers/sshd.js';
import { insertCards } from '../outbound/fixtures.js';
import { contractsByStatus, type BureauKeys } from '../outbound/harness.js';
import { assertDeliveredExactlyOnce, sendJobFor, useSendSuite } from '../outbound/job-harness.js';

/** Seeded (BX_TEST_SEED to replay; fast-check prints the seed of a failure), bounded in runs and time. */
const SEED = Number(process.env.BX_TEST_SEED ?? Date.now() % 2 ** 31);
const params = { seed: SEED, numRuns: 300, interruptAfterTimeLimit: 20_000 };

const cipher = new PanCipher(newPanKey());
const id = fc.stringMatching(/^[1-9][0-9]{0,18}$/);

describe(`a stored PAN the import accepted (1 to 19 digits) reads back as it was written (fast-check seed ${SEED})`, () => {
  it('any length, its last digits checked exactly against the row\'s', () => {
    fc.assert(fc.property(fc.stringMatching(/^[0-9]{1,19}$/), id, id, fc.stringMatching(/^[0-9]{0,4}$/), (pan, contractNumber, plasticId, other) => {
      const stored = cipher.encrypt(pan, { contractNumber, plasticId });
      const row = { contractNumber, plasticId, panLast4: stored.panLast4, panHmac: stored.panHmac };
      assert.equal(cipher.decrypt(stored.panEnc, row), pan);
      // a row whose last four digits were changed (emptied, shortened) does not vouch for the value
      if (other !== stored.panLast4) assert.throws(() => cipher.decrypt(stored.panEnc, { ...row, panLast4: other }), PanIntegrityError);
    }), params);
  });
});

describeEachDatabase('a card imported with a PAN too short to be one', (ctx) => {
  let sshd: SshdServer;
  let keys: BureauKeys;
  let config: Config;

  useSendSuite(() => ctx().db, (suite) => {
    ({ sshd, keys, config } = suite);
  });

  it('is set Invalid for its length, not as a ciphertext moved from another card (a security incident)', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 3, (n) => (n === 2 ? { pan: '123' } : {}));
    const result = await sendJobFor(db, cipher, config, sshd).run({ businessDate: '2026-11-26' });
    assert.equal(result.cardsSent, 2);
    assert.deepEqual(result.invalid.map((i) => i.contractNumber), ['1002']);
    assert.doesNotMatch(result.invalid[0]!.reason, /moved from another card|integrity/);
    assert.match(result.invalid[0]!.reason, /has 3 digits; 12–19 expected/);
    assert.ok(!result.invalid[0]!.reason.includes('123'), result.invalid[0]!.reason);
    await assertDeliveredExactlyOnce(db, sshd, keys, config, ['1001', '1003']);
    assert.deepEqual((await contractsByStatus(db)).Invalid, ['1002']);
  });
});
