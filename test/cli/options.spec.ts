import { strict as assert } from 'node:assert';
import { wholeNumber } from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';

describe('whole number options', () => {
  it('takes digits, with , or _ between thousands', () => {
    assert.equal(wholeNumber('1000', '--limit'), 1000);
    assert.equal(wholeNumber('1_000', '--limit'), 1000);
    assert.equal(wholeNumber('1,000', '--limit'), 1000);
  });

  it('refuses anything else, naming the option and the range', () => {
    for (const text of ['abc', '', '0', '-5', '1.5', '1e3', ' 7', '0x10']) {
      assert.throws(() => wholeNumber(text, '--limit'), (err: Error) => err instanceof UsageError && /^--limit: a whole number from 1 to /.test(err.message), text);
    }
    assert.throws(() => wholeNumber('11', '--days', { max: 10 }), /--days: a whole number from 1 to 10, not "11"/);
  });
});
