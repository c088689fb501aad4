import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { luhnValid } from '../../src/security/mask.js';
import { DEFAULT_LAYOUTS_DIR, layoutFromObject, prepareCard, type Layout } from '../../src/perso/index.js';
import { BUSINESS_DATE, contract } from './fixtures.js';

const v1Document = () => parseYaml(readFileSync(join(DEFAULT_LAYOUTS_DIR, 'perso-v1.yaml'), 'utf8'));

/** perso-v1 with its PAN field edited (a careless layout: the interface calls digits N). */
function v1WithPan(edit: Record<string, unknown>): Layout {
  const doc = v1Document();
  const fields = doc.records.detail.fields;
  const pan = fields.find((f: { name: string }) => f.name === 'pan');
  Object.assign(pan, edit);
  // a shorter PAN field leaves room the layout must still cover
  if (pan.length < 19) fields.push({ name: 'panFiller', position: pan.position + pan.length, length: 19 - pan.length, type: 'filler' });
  return layoutFromObject(doc, '/layouts/careless.yaml');
}

describe('perso: hostile layouts and card data', () => {
  describe('a PAN field of any type gets the PAN checks, and its reasons never hold the PAN', () => {
    const layouts = { AN: v1WithPan({}), N: v1WithPan({ type: 'N' }), 'N, 16 long': v1WithPan({ type: 'N', length: 16 }) };
    const digits = fc.stringMatching(/^[0-9]{1,25}$/);
    const pans = fc.oneof(
      digits,
      fc.tuple(digits, fc.constantFrom('x', ' ', '-', 'É', '\n'), digits).map(([a, c, b]) => a + c + b),
      fc.stringMatching(/^4[0-9]{11,18}$/),
    );

    for (const [name, layout] of Object.entries(layouts)) {
      it(`PAN as ${name}: a card is valid only with 12–19 digits passing Luhn, else Invalid on pan, PAN masked`, () => {
        fc.assert(fc.property(pans, (pan) => {
          const result = prepareCard(layout, contract(1, { pan }), BUSINESS_DATE);
          const good = /^\d{12,19}$/.test(pan) && luhnValid(pan);
          const field = layout.detail.fields.find((f) => f.source === 'card.pan')!;
          if (result.ok) {
            assert.ok(good, `a PAN of ${pan.length} characters, Luhn ${luhnValid(pan)}, was accepted`);
            assert.ok(pan.length <= field.length);
            return;
          }
          if (good && pan.length <= field.length) assert.fail(`a good PAN was refused: ${result.reason}`);
          assert.equal(result.field, 'pan', result.reason);
          const run = pan.replace(/\D/g, '');
          if (run.length >= 7) assert.ok(!result.reason.includes(run), `the reason holds the PAN: ${result.reason}`);
          for (const part of pan.split(/\D/)) if (part.length >= 7) assert.ok(!result.reason.includes(part), `the reason holds part of the PAN: ${result.reason}`);
        }), { numRuns: 400 });
      });
    }

    it('PAN as N: a Luhn failure or 9 digits is Invalid, not written zero-padded into the file', () => {
      const layout = layouts.N;
      for (const pan of ['4111111111111112', '411111111']) {
        const result = prepareCard(layout, contract(1, { pan }), BUSINESS_DATE);
        assert.ok(!result.ok, `${pan} was accepted`);
        assert.match(result.reason, /^pan: PAN [0-9*]+ (fails the Luhn check|has 9 digits)/);
      }
    });
  });
});
