import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { dataKeyFromEnv } from '../../src/config/secrets.js';
import { scrub } from '../../src/log.js';

/** Seeded (BX_TEST_SEED to replay; fast-check prints the seed of a failure), bounded in runs and time. */
const SEED = Number(process.env.BX_TEST_SEED ?? Date.now() % 2 ** 31);
const params = { seed: SEED, numRuns: 200, interruptAfterTimeLimit: 20_000 };

const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes));

describe(`the PAN data key in the environment, as operators paste it (fast-check seed ${SEED})`, () => {
  it('a key with a trailing newline (a secret made from a file) is read, and cut from every log line without it too', () => {
    fc.assert(fc.property(key, fc.constantFrom('\n', '\r\n', ' \n', '\t'), (k, tail) => {
      const text = k.toString('base64');
      assert.deepEqual(dataKeyFromEnv('BX_PAN_KEY', { BX_PAN_KEY: text + tail }), k);
      const line = scrub(`{"msg":"config was ${text}, now ${text + tail}"}`);
      assert.ok(!line.includes(text), `the key survives the scrubber: ${line}`);
    }), params);
  });
});
