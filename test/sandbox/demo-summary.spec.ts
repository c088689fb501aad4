import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo, type DemoOutcome } from '../../src/sandbox/demo.js';
import { formatDemoSummary } from '../../src/sandbox/demo-summary.js';

/**
 * The Invalid rows of the summary at scale: the send lists at most 1,000 Invalid cards and counts
 * them all (invalidTotal). `demo --cards 1000000` printed "Invalid 10,000 not sent" then "… and 988
 * more": the rest was counted from the list.
 */
describe('demo summary, Invalid cards past the send\'s list', function () {
  this.timeout(120_000);
  let base: string;
  let outcome: DemoOutcome;
  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'bx-demo-summary-'));
    outcome = await runDemo({ cards: 20, bureaus: 1, dir: join(base, 'sbx') });
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const withInvalid = (listed: number, total: number | undefined): DemoOutcome => ({
    ...outcome,
    sent: {
      ...outcome.sent,
      invalid: Array.from({ length: listed }, (_, i) => ({ contractNumber: String(4_100_050 + 100 * i), plasticId: '1', reason: 'expiry: 2001 (YYMM) is before the business date\'s month' })),
      invalidTotal: total,
    },
  });
  const more = (o: DemoOutcome) => /… and ([\d,]+) more/.exec(formatDemoSummary(o))?.[1];

  it('10,000 Invalid, 1,000 listed by the send: 12 shown and 9,988 more', function () {
    const text = formatDemoSummary(withInvalid(1000, 10_000));
    assert.equal(text.split('\n').filter((l) => /^ {6}contract \d+:/.test(l)).length, 12);
    assert.equal(more(withInvalid(1000, 10_000)), '9,988');
  });

  it('as many listed as there are: 13 → 1 more, 12 → nothing more; a result without a total counts its list', function () {
    assert.equal(more(withInvalid(13, 13)), '1');
    assert.equal(more(withInvalid(12, 12)), undefined);
    assert.equal(more(withInvalid(20, undefined)), '8');
  });
});
