import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { dataKeyFromEnv } from '../../src/config/secrets.js';
import { ConfigError } from '../../src/errors.js';
import { scrub } from '../../src/log.js';

/** Seeded (BX_TEST_SEED to replay; fast-check prints the seed of a failure), bounded in runs and time. */
const SEED = Number(process.env.BX_TEST_SEED ?? Date.now() % 2 ** 31);
const params = { seed: SEED, numRuns: 200, interruptAfterTimeLimit: 20_000 };

const key = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes));

/** The error dataKeyFromEnv throws for `value`, checked to be a ConfigError naming the variable and holding no key material. */
function refusal(value: string, material: Buffer): string {
  let error: unknown;
  try {
    dataKeyFromEnv('BX_PAN_KEY', { BX_PAN_KEY: value });
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError, `${JSON.stringify(value)} is refused with a ConfigError`);
  const { message } = error;
  assert.match(message, /^environment variable BX_PAN_KEY must be exactly 32 bytes in base64/);
  for (const form of [material.toString('base64'), material.toString('base64url'), material.toString('hex')]) {
    assert.ok(!message.includes(form.slice(0, 16)), `no key material in the message: ${message}`);
  }
  return message;
}

describe(`the PAN data key in the environment, as operators paste it (fast-check seed ${SEED})`, () => {
  it('a key with a trailing newline (a secret made from a file) is read, and cut from every log line without it too', () => {
    fc.assert(fc.property(key, fc.constantFrom('\n', '\r\n', ' \n', '\t'), (k, tail) => {
      const text = k.toString('base64');
      assert.deepEqual(dataKeyFromEnv('BX_PAN_KEY', { BX_PAN_KEY: text + tail }), k);
      const line = scrub(`{"msg":"config was ${text}, now ${text + tail}"}`);
      assert.ok(!line.includes(text), `the key survives the scrubber: ${line}`);
    }), params);
  });

  it('a refused key says what is wrong with it, never that 32 bytes are not 32 bytes, and never shows the key', () => {
    fc.assert(fc.property(key, (k) => {
      const text = k.toString('base64');
      assert.match(refusal(`"${text}"`, k), /quotes/);
      assert.match(refusal(`'${text}'`, k), /quotes/);
      assert.match(refusal(text.replace(/=+$/, ''), k), /"=" is missing/);
      assert.match(refusal(k.toString('hex'), k), /hex/);
      assert.match(refusal(`${text} # the prod key`, k), /put a comment on a line of its own/);
      const url = k.toString('base64url');
      if (/[-_]/.test(url)) assert.match(refusal(`${url}=`, k), /URL-safe/);
      for (const value of [`"${text}"`, text.replace(/=+$/, ''), k.toString('hex'), `${url}=`, `${text} # the prod key`]) {
        if (value === text) continue;
        assert.doesNotMatch(refusal(value, k), /decodes to 32 bytes/);
      }
    }), params);
  });

  it('a key of the wrong length says how many bytes it holds', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 64 }).filter((n) => n !== 32), (n) => {
      const k = Buffer.alloc(n, 0x5a);
      assert.match(refusal(k.toString('base64'), k), new RegExp(`decodes to ${n} bytes`));
    }), { ...params, numRuns: 64 });
  });
});
