import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { createLogger } from '../../src/log.js';
import { maskPan, maskPansInText } from '../../src/security/mask.js';
import { withLuhn } from '../helpers/cards.js';

/** Seeded (BX_TEST_SEED to replay; fast-check prints the seed of a failure), bounded in runs and time. */
const SEED = Number(process.env.BX_TEST_SEED ?? Date.now() % 2 ** 31);
const params = { seed: SEED, numRuns: 200, interruptAfterTimeLimit: 20_000 };

/**
 * What may stand between the digits of a PAN typed, pasted from a form or a spreadsheet: nothing,
 * one or two spaces, tabs or dashes, and the no-break spaces spreadsheets and locales group digits by
 * (U+00A0, U+2007 figure space, U+202F narrow no-break space).
 */
const SEPARATORS = ['', '', '', '', ' ', '  ', '\t', '\t\t', '-', ' -', '- ', '\u00a0', '\u2007', '\u202f'];

const pan = fc.stringMatching(/^[1-9][0-9]{10,17}$/).map(withLuhn);
const grouped = pan.chain((p) => fc.array(fc.constantFrom(...SEPARATORS), { minLength: p.length - 1, maxLength: p.length - 1 })
  .map((gaps) => ({ pan: p, text: [...p].map((d, i) => d + (gaps[i] ?? '')).join('') })));

function collectingLogger(pretty: boolean) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ level: 'info', destination, pretty }), lines };
}

/** The output with every separator (and the JSON escape of a tab) taken out: a PAN left in it shows as its digits. */
function digitsJoined(text: string): string {
  return text.replace(/\\t|[\s\u00a0\u2007\u202f-]/g, '');
}

describe(`PANs grouped any way never reach a log line whole (fast-check seed ${SEED})`, () => {
  for (const pretty of [false, true]) {
    it(`a grouped PAN in a message, a field and an error is masked (${pretty ? 'pretty' : 'JSON'})`, () => {
      fc.assert(fc.property(grouped, ({ pan: p, text }) => {
        const { log, lines } = collectingLogger(pretty);
        log.info({ detail: `field ${text} end` }, `card ${text} end`);
        log.warn(new Error(`driver said ${text} end`));
        const all = lines.join('');
        assert.ok(!digitsJoined(all).includes(p), `PAN ${JSON.stringify(text)} leaked: ${all}`);
        if (!pretty) {
          const [info, warn] = lines.map((line) => JSON.parse(line));
          assert.equal(info.msg, `card ${maskPan(p)} end`);
          assert.equal(info.detail, `field ${maskPan(p)} end`);
          assert.equal(warn.err.message, `driver said ${maskPan(p)} end`);
        }
      }), params);
    });
  }

  it('a grouped PAN is masked in free text and in JSON text (a value quoted in a message)', () => {
    fc.assert(fc.property(grouped, ({ pan: p, text }) => {
      assert.equal(maskPansInText(`pasted ${text} here`), `pasted ${maskPan(p)} here`);
      assert.equal(maskPansInText(JSON.stringify(`found ${text}`)), JSON.stringify(`found ${maskPan(p)}`));
    }), params);
  });
});

describe(`a PAN written against other digits never reaches a log line whole (fast-check seed ${SEED})`, () => {
  // a fixed-width record: the PAN field, then the expiry and a sequence, no separator between them
  const longPan = fc.stringMatching(/^[1-9][0-9]{14,17}$/).map(withLuhn);
  const around = fc.record({ pan: longPan, before: fc.stringMatching(/^[0-9]{0,12}$/), after: fc.stringMatching(/^[0-9]{0,12}$/) });

  it('a PAN of 16 to 19 digits with any digits before and after it is masked, in text and through the logger', () => {
    fc.assert(fc.property(around, ({ pan: p, before, after }) => {
      const run = before + p + after;
      const masked = maskPansInText(`record ${run} refused`);
      assert.ok(!masked.includes(p), `PAN in ${JSON.stringify(run)} leaked: ${masked}`);
      assert.equal(masked, `record ${maskPan(run)} refused`, 'the run keeps its first six and last four digits');
      const { log, lines } = collectingLogger(false);
      log.warn({ record: run }, `record ${run} refused`);
      assert.ok(!lines.join('').includes(p), lines.join(''));
    }), params);
  });

  it('leaves what we write ourselves: sizes, our file names, addresses', () => {
    for (const text of ['size 12345678901 bytes', 'BXISSUER_PERSO_20261126_000003.dat.pgp', 'connect ECONNREFUSED 192.168.100.209:22']) {
      assert.equal(maskPansInText(text), text);
    }
  });
});

describe(`a PAN in other decimal digits never reaches a log line whole (fast-check seed ${SEED})`, () => {
  // fullwidth, Arabic-Indic, Devanagari, mathematical bold: each a run of the ten digits in order
  const ZEROS = [0xff10, 0x0660, 0x0966, 0x1d7ce];
  const written = fc.tuple(pan, fc.array(fc.constantFrom(...ZEROS), { minLength: 19, maxLength: 19 }), fc.array(fc.boolean(), { minLength: 19, maxLength: 19 }))
    .map(([p, zeros, ascii]) => ({ pan: p, text: [...p].map((d, i) => (ascii[i] ? d : String.fromCodePoint(zeros[i]! + Number(d)))).join('') }));

  it('is masked in text and through the logger, written in any mix of decimal digits', () => {
    fc.assert(fc.property(written, ({ pan: p, text }) => {
      assert.equal(maskPansInText(`card ${text} end`), `card ${maskPan(p)} end`);
      const { log, lines } = collectingLogger(false);
      log.info({ detail: text }, `card ${text}`);
      const line = JSON.parse(lines[0]!);
      assert.equal(line.msg, `card ${maskPan(p)}`);
      assert.equal(line.detail, maskPan(p));
    }), params);
  });

  it('leaves other text in those digits as it is', () => {
    for (const text of ['٢٠٢٦-١٢-٠٦', 'ＡＢＣ１２３', 'price ₹ ४५०']) assert.equal(maskPansInText(text), text);
  });
});
