import { strict as assert } from 'node:assert';
import { persoPageOf } from '../../src/db/perso-rows.js';
import { FileThread } from '../../src/outbound/file-thread.js';
import { PanCipher } from '../../src/security/pan.js';
import { testConfig } from '../helpers/config.js';
import { newPanKey } from '../helpers/db.js';

/** Resolves with `what` settled, or rejects when it has not settled within `ms`. */
function within<T>(ms: number, what: Promise<T>, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} did not end within ${ms} ms`)), ms);
  });
  return Promise.race([what, late]).finally(() => clearTimeout(timer));
}

describe('outbound: the file thread', () => {
  const options = () => ({ config: testConfig(), cipher: new PanCipher(newPanKey()), businessDate: '2026-11-26' });

  it('screens an empty page; once aborted, it takes no more requests', async () => {
    const thread = new FileThread(options());
    const verdict = await thread.screen(persoPageOf([]));
    assert.deepEqual([verdict.validIds, verdict.invalid, verdict.others], [[], [], 0]);
    await within(20_000, thread.abort(), 'abort');
    await assert.rejects(thread.screen(persoPageOf([])), /the file thread has ended/, 'no request after the end');
  });

  // The claim aborts the thread while its finish still waits (the file's build failed first): both
  // stop the thread. Each must end: a second terminate beside the first once left the first waiting
  // forever (a send run that hung after a build failure).
  it('abort while finish waits: both end, however often the thread is stopped', async () => {
    for (let round = 0; round < 5; round++) {
      const thread = new FileThread(options());
      await thread.screen(persoPageOf([]));
      const finishing = thread.finish();
      finishing.catch(() => undefined);
      await within(20_000, thread.abort(), `abort (round ${round})`);
      await within(20_000, finishing.then(() => 'finished', () => 'failed'), `finish (round ${round})`);
      await within(20_000, thread.abort(), `a second abort (round ${round})`);
    }
  });
});
