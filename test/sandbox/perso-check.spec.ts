import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { loadLayout, renderPersoFile } from '../../src/perso/index.js';
import { checkPersoFile, type FileExpectations } from '../../src/sandbox/perso-check.js';
import { makeCard } from '../helpers/cards.js';

/** The sandbox bureau's check of an emb-v1 file (the second bureau's format): hostile bytes anywhere. */
describe('sandbox bureau: the check of an emb-v1 file', function () {
  this.timeout(60_000);
  const layout = loadLayout('emb-v1');
  const CARDS = 5;
  const expect: FileExpectations = { issuer: 'BXISSUER', bureau: 'EMB01', environment: 'T', businessDate: '20261125', fileSequence: '000001', lineEnding: 'CRLF' };
  let dir: string;
  let good: Buffer;
  let pans: string[];

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'bx-perso-check-'));
    const contracts = Array.from({ length: CARDS }, (_, i) => ({ ...makeCard(i + 1, { productCode: 'GOLD01' }), id: i + 1 }));
    pans = contracts.map((c) => c.pan);
    good = await buffer(renderPersoFile(layout, {
      issuerCode: 'BXISSUER', bureauCode: 'EMB01', businessDate: '2026-11-25', sequence: 1, createdAt: new Date('2026-11-25T10:00:00Z'), environment: 'T',
    }, contracts));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const check = async (content: Buffer) => {
    const file = join(dir, 'clear.txt');
    writeFileSync(file, content);
    return checkPersoFile(file, layout, expect);
  };

  it('accepts the file as the send job renders it: CRLF, YYMMDD header date, every card counted', async function () {
    assert.deepEqual(await check(good), { ok: true, records: CARDS });
  });

  it('any byte changed anywhere: a verdict, never a crash; a refusal names the record and no PAN', async function () {
    await fc.assert(fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
      const bad = Buffer.from(good);
      bad[at % bad.length] = byte;
      const result = await check(bad);
      assert.ok(result.records <= CARDS + 2, 'at most every line counted as a record');
      if (result.ok) return;
      assert.match(result.reason, /^record \d+/);
      for (const pan of pans) assert.ok(!result.reason.includes(pan) && !result.reason.includes(pan.slice(0, 12)), `no PAN in: ${result.reason}`);
    }), { numRuns: 150 });
  });

  it('refuses LF endings, another date in the name, and a card twice, each naming the record', async function () {
    const lf = await check(Buffer.from(good.toString('latin1').replaceAll('\r\n', '\n'), 'latin1'));
    assert.match(lf.ok ? '' : lf.reason, /^record 1: ends with LF; the layout says CRLF/);
    const file = join(dir, 'clear.txt');
    writeFileSync(file, good);
    const dated = await checkPersoFile(file, layout, { ...expect, businessDate: '20261126' });
    assert.match(dated.ok ? '' : dated.reason, /^record 1: header field businessDate is "261125", expected "261126"/);
    const lines = good.toString('latin1').split('\r\n');
    const twice = [lines[0], lines[1], lines[1]!.replace(/^02000001/, '02000002'), ...lines.slice(3)].join('\r\n');
    const result = await check(Buffer.from(twice, 'latin1'));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.reason, /^record 3: card contract \d+ plastic \d+ appears twice/);
  });
});
