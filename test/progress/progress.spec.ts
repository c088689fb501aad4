import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
import { JobProgress, describeProgress } from '../../src/progress/job-progress.js';
import { showProgress } from '../../src/progress/show.js';
import { waitFor } from '../helpers/wait.js';

/** A stream that keeps what is written; `isTTY` makes it look like a terminal to showProgress. */
function collecting(isTTY: boolean): { stream: NodeJS.WriteStream; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns: 100 });
  return { stream, text: () => text };
}

describe('job progress', () => {
  it('counts a step, its rate and the time left from the clock it is given', () => {
    let now = 1_000_000;
    const progress = new JobProgress('send', () => now);
    progress.begin('claiming and encrypting', 'cards', 1_000_000);
    now += 10_000;
    progress.advance(200_000, 50_000_000);
    const s = progress.snapshot();
    assert.deepEqual(
      [s.job, s.step, s.unit, s.done, s.total, s.bytes, s.elapsedSeconds, s.rate, s.etaSeconds],
      ['send', 'claiming and encrypting', 'cards', 200_000, 1_000_000, 50_000_000, 10, 20_000, 40],
    );
    assert.equal(describeProgress(s), 'send: claiming and encrypting 200,000/1,000,000 cards, 50.0 MB, 20,000 cards/s, ETA 40 s');
  });

  it('starts each step from zero, and gives no time left before any work or without a total', () => {
    let now = 0;
    const progress = new JobProgress('receive', () => now);
    progress.begin('receiving reports', 'reports', 4);
    assert.equal(progress.snapshot().etaSeconds, null, 'nothing done yet: no rate, no estimate');
    now = 2_000;
    progress.advance(4, 1234);
    progress.begin('uploading', 'cards');
    now = 2_500;
    const s = progress.snapshot();
    assert.deepEqual([s.done, s.bytes, s.total, s.etaSeconds, s.elapsedSeconds], [0, 0, null, null, 0.5]);
    assert.equal(describeProgress(s), 'receive: uploading 0 cards');
  });

  it('writes long estimates in minutes and hours', () => {
    let now = 0;
    const progress = new JobProgress('send', () => now);
    progress.begin('claiming', 'cards', 10_000);
    now = 1_000;
    progress.advance(2);
    assert.match(describeProgress(progress.snapshot()), /ETA 1 h 23 min$/);
  });

  it('on a terminal: redraws one line in place and clears it when stopped', async () => {
    const out = collecting(true);
    const progress = new JobProgress('send');
    progress.begin('claiming and encrypting', 'cards', 10);
    progress.advance(3);
    const stop = showProgress(progress, { terminal: out.stream, log: createLogger({ destination: out.stream }), redrawMs: 5 });
    await waitFor('two redraws', () => out.text().split('\r').length > 2);
    stop();
    const text = out.text();
    assert.match(text, /^\rsend: claiming and encrypting 3\/10 cards/);
    assert.ok(text.endsWith('\r\x1b[K'), 'the line is cleared at the end');
    assert.ok(!text.includes('\n'), 'never a new line: the command prints its result after it');
  });

  it('off a terminal: a progress log line at the interval, nothing drawn', async () => {
    const out = collecting(false);
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const progress = new JobProgress('receive');
    progress.begin('receiving reports', 'reports', 2);
    progress.advance(1, 4096);
    const stop = showProgress(progress, { terminal: out.stream, log: createLogger({ destination: sink }), logIntervalMs: 5 });
    await waitFor('two progress lines', () => lines.length >= 2);
    stop();
    assert.equal(out.text(), '');
    const line = JSON.parse(lines[0]!);
    assert.equal(line.level, 'info');
    assert.deepEqual([line.progress.job, line.progress.done, line.progress.total, line.progress.unit, line.progress.bytes], ['receive', 1, 2, 'reports', 4096]);
    assert.match(line.msg, /^receive: receiving reports 1\/2 reports, 4\.1 kB/);
  });
});
