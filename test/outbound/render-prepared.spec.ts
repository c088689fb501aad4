import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer as bytesOf } from 'node:stream/consumers';
import { parse as parseYaml } from 'yaml';
import type { ContractForPerso } from '../../src/domain/contract.js';
import {
  DEFAULT_LAYOUTS_DIR, layoutFromObject, loadLayout, prepareCard, renderPersoFile, renderPreparedFile, type FileContext, type Layout,
} from '../../src/perso/index.js';
import { makeCard } from '../helpers/cards.js';

/** perso-v1 with file.* values in the detail record too (where the filler was). */
function layoutWithFileFieldsInDetail(): Layout {
  const doc = parseYaml(readFileSync(join(DEFAULT_LAYOUTS_DIR, 'perso-v1.yaml'), 'utf8'));
  const fields = doc.records.detail.fields;
  fields.splice(fields.length - 1, 1,
    { name: 'fileDate', position: 409, length: 8, type: 'date', format: 'YYYYMMDD', source: 'file.businessDate' },
    { name: 'fileSequence', position: 417, length: 6, type: 'N', source: 'file.sequence' },
    { name: 'environment', position: 423, length: 1, type: 'AN', source: 'file.environment', values: ['P', 'T'] },
    { name: 'filler', position: 424, length: 27, type: 'filler' });
  return layoutFromObject(doc, '/layouts/with-file-fields.yaml');
}

const contracts: ContractForPerso[] = Array.from({ length: 300 }, (_, i) => ({
  id: i + 1,
  ...makeCard(i + 1, {
    ...(i % 3 === 0 ? { firstName: 'Zoë', lastName: 'Ñúñez-O\'Brien' } : {}),
    ...(i % 4 === 0 ? { addressLine2: '' } : {}),
    ...(i % 5 === 0 ? { embossedName: 'MR J SMITH' } : {}),
  }),
}));

describe('outbound: rendering the cards the claim prepared', () => {
  for (const [name, layout] of [['perso-v1', loadLayout('perso-v1')], ['file fields in the detail', layoutWithFileFieldsInDetail()]] as const) {
    for (const lineEnding of ['LF', 'CRLF'] as const) {
      it(`gives the bytes and totals of renderPersoFile (${name}, ${lineEnding})`, async () => {
        const ctx: FileContext = {
          issuerCode: 'BXISSUER', bureauCode: 'BUREAU01', businessDate: '2026-11-26', sequence: 12,
          createdAt: new Date('2026-11-26T08:09:10.000Z'), environment: 'T', lineEnding,
        };
        const cards = contracts.map((c) => {
          const prepared = prepareCard(layout, c, ctx.businessDate);
          assert.ok(prepared.ok, 'every card here is valid');
          return prepared.card;
        });
        const fromContracts = renderPersoFile(layout, ctx, contracts);
        const fromPrepared = renderPreparedFile(layout, ctx, cards);
        const [a, b] = await Promise.all([bytesOf(fromContracts), bytesOf(fromPrepared)]);
        assert.equal(a.length, (contracts.length + 2) * (450 + (lineEnding === 'CRLF' ? 2 : 1)));
        assert.ok(a.equals(b), 'the same clear bytes');
        assert.deepEqual(fromPrepared.totals, fromContracts.totals);
        const line = 450 + (lineEnding === 'CRLF' ? 2 : 1);
        if (name !== 'perso-v1') assert.equal(a.subarray(line + 408, line + 423).toString('latin1'), '20261126000012T', 'file values in the detail record');
      });
    }
  }
});
