import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeOutageAlerts, type Alert } from '../../src/daemon/alerts.js';
import { recordingAlerter } from './fakes.js';

/**
 * A local fault names the file it failed on, and the receive downloads to a temporary file of a
 * random name (.dl-<16 hex>.part): a read-only or full work folder fails every poll naming another
 * file. That is one cause, alerted once, not once per poll.
 */
describe('one outage alert per cause: random names in the message', () => {
  /** the error a download to a new temporary file meets when the folder cannot take it */
  function downloadFault(): Error {
    try {
      openSync(join(tmpdir(), 'bx-no-such-folder', `.dl-${randomBytes(8).toString('hex')}.part`), 'w');
    } catch (err) {
      return err as Error;
    }
    throw new Error('the open was expected to fail');
  }

  it('a work folder that refuses every poll raises one failure alert', async () => {
    const sent: Alert[] = [];
    const outages = makeOutageAlerts(recordingAlerter(sent));
    for (let poll = 0; poll < 5; poll++) {
      const error = downloadFault();
      await outages.failed('receive', error, { kind: 'failure', severity: 'critical', message: `receive run (poll) failed: ${error.message}` });
    }
    assert.equal(sent.length, 1, sent.map((a) => a.message).join('\n'));
  });
});
