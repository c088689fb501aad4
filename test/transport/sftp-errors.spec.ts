import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PermanentError, TransientError } from '../../src/errors.js';
import { remoteError } from '../../src/transport/sftp-errors.js';

/** An error as ssh2-sftp-client rejects with it for an SFTP status: the server's own message text, the status code. */
const statusError = (text: string, code: number) => Object.assign(new Error(`_rename: ${text}`), { code });

const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe('transport/sftp-errors: the server\'s text in our errors', function () {
  it('a status message with a terminal escape and a forged log line is quoted without them', function () {
    const hostile = 'Failure\x1b[2J\x1b]0;owned\x07\n{"level":"info","msg":"report applied"}\u202e';
    const err = remoteError(statusError(hostile, 4), 'rename', '/inbound/A.pgp.part on sftp.bureau.example:22');
    assert.ok(err instanceof PermanentError);
    assert.equal(err.message, 'rename /inbound/A.pgp.part on sftp.bureau.example:22' +
      ': the server refused it (_rename: Failure?[2J?]0;owned??{"level":"info","msg":"report applied"}?); a full disk or an existing target are likely');
  });

  it('whatever the server says: no control or bidi character, at most 300 of its characters, the same class of error (property)', function () {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), fc.constantFrom(2, 3, 4, 8), (text, code) => {
      const err = remoteError(statusError(text, code), 'upload', '/inbound/B.pgp.part on h:22');
      assert.ok(!UNSAFE.test(err.message), JSON.stringify(err.message));
      assert.ok(err.message.length <= 'upload /inbound/B.pgp.part on h:22: the server refused it (_rename: '.length + 300 + 100, `${err.message.length} characters`);
      assert.ok(err instanceof PermanentError || err instanceof TransientError);
    }));
  });

  it('still tells permission denied, a missing file and a lost connection apart', function () {
    assert.match(remoteError(statusError('Permission denied', 3), 'upload', 'p').message, /^upload p: permission denied$/);
    assert.match(remoteError(statusError('No such file', 2), 'stat', 'p').message, /^stat p: no such file or folder$/);
    assert.ok(remoteError(new Error('No SFTP connection available'), 'list', 'p') instanceof TransientError);
  });
});
