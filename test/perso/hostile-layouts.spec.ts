import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { loadConfig, PROJECT_ROOT } from '../../src/config/load.js';
import { ConfigError, InputError } from '../../src/errors.js';
import { luhnValid } from '../../src/security/mask.js';
import { loadLayoutFile } from '../../src/perso/layout.js';
import { fileNamePatternProblem, personalizationFileName } from '../../src/perso/file-name.js';
import { DEFAULT_LAYOUTS_DIR, explainFile, explainRecord, layoutFromObject, parsePersoFile, prepareCard, renderPersoFile, type Layout } from '../../src/perso/index.js';
import { runCli } from '../helpers/cli.js';
import { BUSINESS_DATE, collect, contract, fileContext, goldenContracts } from './fixtures.js';

const GOLDEN = join(PROJECT_ROOT, 'test', 'perso', 'golden', 'perso-v1-golden.dat');
const CLEAR_PANS = readFileSync(GOLDEN, 'latin1').split('\n').filter((l) => l.startsWith('D')).map((l) => l.slice(35, 54).trim());
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

  describe('perso.maxCardsPerFile against the layout\'s counters', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bx-counters-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** A 40-byte layout whose record sequence and trailer counts have the given digits. */
    const smallLayout = (sequence: number, detailCount: number, totalRecords: number, header: boolean) => {
      const lines = [
        'name: small', 'recordLength: 40', 'fileNamePattern: "{issuer}_S_{date}_{seq}.pgp"', 'typeCode: { position: 1, length: 1 }', 'records:',
        ...(header ? ['  header:', '    code: H', '    fields:', '      - { name: t, position: 1, length: 1, type: constant, value: H }',
          '      - { name: f, position: 2, length: 39, type: filler }'] : []),
        '  detail:', '    code: D', '    fields:', '      - { name: t, position: 1, length: 1, type: constant, value: D }',
        `      - { name: seq, position: 2, length: ${sequence}, type: N, source: record.sequence }`,
        `      - { name: contractId, position: ${2 + sequence}, length: 15, type: N, source: card.contractId, required: true }`,
        `      - { name: pan, position: ${17 + sequence}, length: 19, type: AN, source: card.pan, required: true }`,
        `      - { name: f, position: ${36 + sequence}, length: ${5 - sequence}, type: filler }`,
        '  trailer:', '    code: T', '    fields:', '      - { name: t, position: 1, length: 1, type: constant, value: T }',
        `      - { name: detailCount, position: 2, length: ${detailCount}, type: N, source: totals.detailCount }`,
        `      - { name: totalRecords, position: ${2 + detailCount}, length: ${totalRecords}, type: N, source: totals.totalRecords }`,
        `      - { name: f, position: ${2 + detailCount + totalRecords}, length: ${39 - detailCount - totalRecords}, type: filler }`,
      ];
      writeFileSync(join(dir, 'small.yaml'), lines.join('\n') + '\n');
    };
    const configWith = (layout: string, maxCards: number) => {
      writeFileSync(join(dir, 'config.yaml'), `issuer: { code: BX }\nbureau: { code: B1 }\nperso: { layout: ${layout}, maxCardsPerFile: ${maxCards} }\n`);
      return join(dir, 'config.yaml');
    };
    const refused = (file: string, pattern: RegExp) => assert.throws(() => loadConfig(file, {}), (err: Error) => {
      assert.ok(err instanceof ConfigError, err.message);
      assert.match(err.message, /perso\.maxCardsPerFile: /);
      assert.match(err.message, pattern);
      return true;
    });

    it('a config that loads can always write a file of maxCardsPerFile cards, and that file reads back', async () => {
      const digits = fc.integer({ min: 1, max: 3 });
      await fc.assert(fc.asyncProperty(digits, digits, digits, fc.boolean(), fc.integer({ min: 1, max: 1100 }), async (sequence, detailCount, totalRecords, header, maxCards) => {
        smallLayout(sequence, detailCount, totalRecords, header);
        let config;
        try {
          config = loadConfig(configWith('small.yaml', maxCards), {});
        } catch (err) {
          assert.ok(err instanceof ConfigError && /^config file .*: perso\.maxCardsPerFile: \d+ cards a file do not fit layout small: the (detail|trailer) field \w+ holds \d digits/.test(err.message), String(err));
          return;
        }
        const layout = loadLayoutFile(config.bureaus[0]!.layout);
        const cards = Array.from({ length: maxCards }, (_, i) => contract(i + 1));
        const text = (await collect(renderPersoFile(layout, fileContext(), cards))).toString('latin1');
        const records = await parsePersoFile(layout, [text]);
        assert.equal(records.filter((r) => r.type === 'detail').length, maxCards);
      }), { numRuns: 40 });
    });

    it('refuses the shipped layouts with more cards than their counters hold, and loads them at their limit', () => {
      refused(configWith('emb-v1', 1_000_000), /layout emb-v1: the detail field recordSequence holds 6 digits, too few for 1000000/);
      assert.equal(loadConfig(configWith('emb-v1', 999_999), {}).perso.maxCardsPerFile, 999_999);
      refused(configWith('perso-v1', 9_999_998), /layout perso-v1: the trailer field totalRecords holds 7 digits, too few for 10000000/);
      assert.equal(loadConfig(configWith('perso-v1', 9_999_997), {}).perso.maxCardsPerFile, 9_999_997);
    });
  });

  describe('perso explain with a layout that does not match the file never shows a PAN', () => {
    /** perso-v1 with the detail fields from position `from` to `to` (whole fields) made one field of `type`. */
    const merged = (from: number, to: number, type: string): Layout => {
      const doc = v1Document();
      const fields = doc.records.detail.fields.filter((f: { position: number; length: number }) => f.position < from || f.position + f.length - 1 > to);
      const source = { AN: { source: 'card.title' }, N: { source: 'card.plasticId' }, filler: {} }[type];
      fields.push({ name: 'merged', position: from, length: to - from + 1, type, ...source });
      doc.records.detail.fields = fields;
      return layoutFromObject(doc, `/layouts/merged-${from}-${to}-${type}.yaml`);
    };
    const starts = [2, 9, 24, 36];
    const ends = [54, 57, 61, 71, 97];

    it('a field that holds the PAN with the digits beside it, of any type, is masked in the values and the problem', async () => {
      for (const from of starts) {
        for (const to of ends) {
          for (const type of ['AN', 'N', 'filler']) {
            const layout = merged(from, to, type);
            const shown: string[] = [];
            for await (const line of explainFile(layout, GOLDEN)) shown.push(JSON.stringify(line));
            assert.equal(shown.length, 9);
            const text = shown.join('\n');
            for (const pan of CLEAR_PANS) assert.ok(!text.includes(pan), `${layout.file} shows ${pan.slice(0, 6)}…: ${shown[1]}`);
          }
        }
      }
    });

    it('a layout whose field boundaries cut the PAN in two (each piece too short to look like one) shows its middle digits in neither piece', async () => {
      for (let cut = 37; cut <= 50; cut++) {
        const doc = v1Document();
        const fields = doc.records.detail.fields.filter((f: { name: string }) => f.name !== 'pan');
        fields.push({ name: 'left', position: 36, length: cut - 36, type: 'AN', source: 'card.title' });
        fields.push({ name: 'right', position: cut, length: 55 - cut, type: 'AN', source: 'card.city' });
        doc.records.detail.fields = fields;
        const layout = layoutFromObject(doc, `/layouts/split-${cut}.yaml`);
        const details = [];
        for await (const line of explainFile(layout, GOLDEN)) if (line.type === 'detail') details.push(line);
        assert.equal(details.length, CLEAR_PANS.length);
        details.forEach((record, i) => {
          const value = (name: string) => record.fields.find((f) => f.name === name)!.value;
          const shown = (value('left') + value('right')).replace(/\s/g, '');
          const pan = CLEAR_PANS[i]!;
          assert.ok(!shown.includes(pan.slice(6, -4)), `split at ${cut}: ${JSON.stringify(value('left'))} + ${JSON.stringify(value('right'))} show the middle of ${pan.slice(0, 6)}…`);
          assert.match(shown, new RegExp(`^[0-9*]*\\*{${pan.length - 10}}${pan.slice(-4)}$`));
        });
      }
    });

    it('prints no control character of a damaged file (no terminal escape sequence), and names where it is', async function () {
      this.timeout(60_000);
      const dir = mkdtempSync(join(tmpdir(), 'bx-explain-'));
      try {
        const lines = readFileSync(GOLDEN, 'latin1').split('\n');
        const hostile = '\x1b[2J\x1b]0;x\x07\x9b31m\x7f\r';
        lines[2] = lines[2]!.slice(0, 343) + hostile + lines[2]!.slice(343 + hostile.length);
        const file = join(dir, 'damaged.dat');
        writeFileSync(file, lines.join('\n'), 'latin1');
        const explained = [];
        for await (const line of explainFile(layoutFromObject(v1Document(), '/layouts/perso-v1.yaml'), file, { line: 3 })) explained.push(line);
        const city = explained[0]!.fields.find((f) => f.name === 'city')!;
        assert.equal(city.value.length, 30);
        assert.match(city.value, /^\ufffd\[2J\ufffd\]0;x\ufffd\ufffd31m\ufffd\ufffd/);
        assert.match(explained[0]!.problem!, /record 3: character at position 344 is not printable ASCII/);
        for (const json of [false, true]) {
          const result = await runCli(['--config', join(PROJECT_ROOT, 'config', 'default.yaml'), 'perso', 'explain', '--line', '3', ...(json ? ['--json'] : []), file]);
          assert.equal(result.code, 0, result.stderr);
          assert.match(result.stdout, /city/);
          assert.doesNotMatch(result.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/, json ? 'json' : 'text');
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('the CLI with --layout naming such a layout prints no PAN', async function () {
      this.timeout(60_000);
      const dir = mkdtempSync(join(tmpdir(), 'bx-explain-'));
      try {
        const doc = v1Document();
        doc.name = 'careless';
        doc.records.detail.fields = doc.records.detail.fields.filter((f: { name: string }) => f.name !== 'plasticId' && f.name !== 'pan');
        doc.records.detail.fields.push({ name: 'reserved', position: 24, length: 31, type: 'AN', source: 'card.title' });
        writeFileSync(join(dir, 'careless.yaml'), JSON.stringify(doc));
        const config = join(dir, 'config.yaml');
        writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nperso: { layoutsDir: ${JSON.stringify(dir)} }\n`);
        writeFileSync(join(dir, 'perso-v1.yaml'), readFileSync(join(DEFAULT_LAYOUTS_DIR, 'perso-v1.yaml')));
        const result = await runCli(['--config', config, 'perso', 'explain', '--layout', 'careless', GOLDEN]);
        assert.equal(result.code, 0, result.stderr);
        // no PAN field in this layout: the record is masked whole, the ids before the PAN with it
        assert.match(result.stdout, /\n24 +31 +reserved +AN +\[\*+0013 +\]\n/);
        for (const pan of CLEAR_PANS) assert.ok(!result.stdout.includes(pan), `full PAN ${pan.slice(0, 6)}… printed`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('alignment and padding', () => {
    const withField = (name: string, edit: Record<string, unknown>) => {
      const doc = v1Document();
      Object.assign(doc.records.detail.fields.find((f: { name: string }) => f.name === name), edit);
      return () => layoutFromObject(doc, '/layouts/padded.yaml');
    };

    it('refuses zero padding after a value (a PSN 2 would be written 200, a name JANE000…)', () => {
      for (const [name, edit] of [['psn', { align: 'left' }], ['contractId', { align: 'left', padding: 'zero' }], ['city', { padding: 'zero' }], ['recordType', { padding: 'zero' }]] as const) {
        assert.throws(withField(name, edit), (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, new RegExp(`^layout file /layouts/padded\\.yaml: records\\.detail, field ${name}: a left-aligned \\w+ field cannot be zero-padded`));
          return true;
        }, `${name} ${JSON.stringify(edit)}`);
      }
      for (const edit of [{ align: 'left', padding: 'space' }, { align: 'right' }, { align: 'right', padding: 'space' }]) withField('psn', edit)();
    });

    it('the strict reader refuses letters in an AN field the totals add up with an InputError naming record and field', async () => {
      const doc = v1Document();
      Object.assign(doc.records.detail.fields.find((f: { name: string }) => f.name === 'contractId'), { type: 'AN', charset: 'code' });
      Object.assign(doc.records.trailer.fields.find((f: { name: string }) => f.name === 'detailCount'), { type: 'AN' });
      const layout = layoutFromObject(doc, '/layouts/an-totals.yaml');
      const lines = (await collect(renderPersoFile(layout, fileContext(), [contract(1), contract(2)]))).toString('latin1').split('\n');
      assert.equal((await parsePersoFile(layout, [lines.join('\n')])).length, 4, 'the file as written reads back');
      const forged = (at: number, offset: number, text: string) => lines.map((l, i) => (i === at ? l.slice(0, offset) + text + l.slice(offset + text.length) : l)).join('\n');
      for (const [text, record, field] of [[forged(2, 8, 'ABCD'), 3, 'contractId'], [forged(3, 1, 'TWO'), 4, 'detailCount']] as const) {
        await assert.rejects(parsePersoFile(layout, [text]), (err: unknown) => {
          assert.ok(err instanceof InputError, String(err));
          assert.deepEqual(err.location, { record, field });
          assert.match(err.message, /must be digits \(the trailer's totals count it\)/);
          return true;
        });
      }
    });

    it('refuses a field longer than any record with a ConfigError naming it, whatever its type', () => {
      fc.assert(fc.property(fc.constantFrom('recordType', 'psn', 'city', 'filler'), fc.integer({ min: 100_001, max: 2 ** 40 }), fc.constantFrom('length', 'position'), (name, size, key) => {
        assert.throws(withField(name, { [key]: size }), (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, new RegExp(`^layout file /layouts/padded\\.yaml: records\\.detail, field ${name} \\(${key}\\): Too big`));
          return true;
        });
      }), { numRuns: 50 });
    });

    it('refuses a name (emboss.name, emboss.track1) in an N field, where its letters would break the record', () => {
      for (const name of ['embossLine1', 'track1Name']) {
        assert.throws(withField(name, { type: 'N' }), new RegExp(`records\\.detail, field ${name}: emboss\\.(name|track1) is text: its field must be AN, not N`));
      }
    });

    it('writes the record sequence at the alignment the layout gives it, whatever its padding', async () => {
      const cases = [[{ padding: 'space' }, '      1', '     12'], [{ align: 'left', padding: 'space' }, '1      ', '12     '], [{}, '0000001', '0000012']] as const;
      for (const [edit, first, twelfth] of cases) {
        const layout = withField('recordSequence', edit)();
        const cards = Array.from({ length: 12 }, (_, i) => contract(i + 1));
        const lines = (await collect(renderPersoFile(layout, fileContext(), cards))).toString('latin1').split('\n');
        assert.deepEqual([lines[1]!.slice(1, 8), lines[12]!.slice(1, 8)], [first, twelfth], JSON.stringify(edit));
      }
    });

    it('reads back any file it writes, whatever alignment and padding the layout gives each field', async () => {
      const reference = layoutFromObject(v1Document(), '/layouts/perso-v1.yaml');
      const text = (await collect(renderPersoFile(reference, fileContext(), goldenContracts()))).toString('latin1');
      const expected = await parsePersoFile(reference, [text]);
      const roles = ['header', 'detail', 'trailer'] as const;
      const names = roles.flatMap((role) => reference[role]!.fields.filter((f) => f.type === 'N' || f.type === 'AN').map((f) => [role, f.name, f.type as 'N' | 'AN'] as const));
      // AN fields are padded with spaces on either side; N fields too, or with zeros on the left
      const choice = (type: 'N' | 'AN') => fc.constantFrom<Record<string, string>>(
        { align: 'left', padding: 'space' }, { align: 'right', padding: 'space' }, ...(type === 'N' ? [{ align: 'right', padding: 'zero' }] : []),
      );
      const normal = (type: string | undefined, value: string) => (type === 'N' ? value.replace(/^0+/, '') : value.trim());
      await fc.assert(fc.asyncProperty(fc.tuple(...names.map(([, , type]) => choice(type))), async (choices) => {
        const doc = v1Document();
        names.forEach(([role, name], i) => Object.assign(doc.records[role].fields.find((f: { name: string }) => f.name === name), choices[i]));
        const layout = layoutFromObject(doc, '/layouts/padded.yaml');
        const written = (await collect(renderPersoFile(layout, fileContext(), goldenContracts()))).toString('latin1');
        const records = await parsePersoFile(layout, [written]);
        assert.equal(records.length, expected.length);
        records.forEach((record, i) => {
          const spec = layout[record.type as 'header' | 'detail' | 'trailer']!;
          for (const [name, value] of Object.entries(record.fields)) {
            const type = spec.fields.find((f) => f.name === name)!.type;
            assert.equal(normal(type, value), normal(type, expected[i]!.fields[name]!), `record ${i + 1} field ${name}`);
          }
        });
        written.split('\n').slice(0, -1).forEach((line, i) => assert.equal(explainRecord(layout, line, i + 1).problem, undefined));
      }), { numRuns: 60 });
    });
  });

  describe('the file\'s own values against the layout, at load', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bx-file-fields-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** perso-v1 with its header's issuer, bureau and environment fields edited, in a file of the folder. */
    const layoutWith = (edit: Record<'issuerCode' | 'bureauCode' | 'environment', Record<string, unknown>>) => {
      const doc = v1Document();
      const fields = doc.records.header.fields;
      for (const name of ['issuerCode', 'bureauCode', 'environment'] as const) {
        const field = fields.find((f: { name: string }) => f.name === name);
        const { length, ...rest } = edit[name];
        Object.assign(field, rest);
        if (rest.values === null) delete field.values;
        if (typeof length === 'number' && length < field.length) {
          fields.push({ name: 'filler', position: field.position + length, length: field.length - length, type: 'filler' });
          field.length = length;
        }
      }
      writeFileSync(join(dir, 'edited.yaml'), JSON.stringify(doc));
    };
    const config = (issuer: string, bureau: string, environment: string) => {
      writeFileSync(join(dir, 'config.yaml'), `issuer: { code: "${issuer}" }\nenvironment: ${environment}\nbureau: { code: "${bureau}" }\nperso: { layout: edited.yaml }\n`);
      return join(dir, 'config.yaml');
    };

    it('a config that loads can always write its header and trailer', async () => {
      const code = fc.stringMatching(/^[A-Z0-9]{1,8}$/);
      const field = fc.record({ length: fc.integer({ min: 1, max: 8 }), type: fc.constantFrom('AN', 'N') });
      const environment = fc.record({ values: fc.constantFrom(null, ['P'], ['T'], ['P', 'T']), type: fc.constantFrom('AN', 'N') });
      await fc.assert(fc.asyncProperty(code, code, fc.constantFrom('P', 'T'), field, field, environment, async (issuer, bureau, env, issuerField, bureauField, envField) => {
        layoutWith({ issuerCode: issuerField, bureauCode: bureauField, environment: envField });
        let loaded;
        try {
          loaded = loadConfig(config(issuer, bureau, env), {});
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          // a letter in an N field's values is the layout's own fault; the rest is this config's values against the layout
          assert.match(err.message, /: perso\.layout: (layout perso-v1, header field (issuerCode|bureauCode|environment): .* \(.*edited\.yaml\)|layout file .*edited\.yaml: records\.header, field environment: values of an N field must be digits)$/);
          return;
        }
        const layout = loadLayoutFile(loaded.bureaus[0]!.layout);
        const context = fileContext({ issuerCode: loaded.issuer.code, bureauCode: loaded.bureau.code, environment: loaded.environment });
        const lines = (await collect(renderPersoFile(layout, context, [contract(1)]))).toString('latin1').split('\n');
        assert.equal(lines.length, 4);
      }), { numRuns: 150 });
    });

    it('names the field that cannot hold the issuer\'s code', () => {
      layoutWith({ issuerCode: { length: 4 }, bureauCode: {}, environment: {} });
      assert.throws(() => loadConfig(config('BXISSUER', 'B1', 'T'), {}), /perso\.layout: layout perso-v1, header field issuerCode: "BXISSUER" does not fit 4 characters/);
      layoutWith({ issuerCode: {}, bureauCode: {}, environment: { values: ['P'] } });
      assert.throws(() => loadConfig(config('BXISSUER', 'B1', 'T'), {}), /perso\.layout: layout perso-v1, header field environment: "T" is not one of P/);
      assert.equal(loadConfig(config('BXISSUER', 'B1', 'P'), {}).environment, 'P');
    });
  });

  describe('file name patterns', () => {
    it('a pattern that passes gives names a file can be written under, with .tmp or .part, for any issuer, date and sequence', () => {
      const dir = mkdtempSync(join(tmpdir(), 'bx-names-'));
      try {
        const text = (n: number) => 'A'.repeat(n);
        fc.assert(fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 10 }), fc.stringMatching(/^[A-Z0-9]{1,8}$/), (head, tail, issuer) => {
          const pattern = `${text(head)}{issuer}_{date}_{seq}${text(tail)}.pgp`;
          const problem = fileNamePatternProblem(pattern);
          if (problem) {
            assert.match(problem, /^gives names of up to \d+ characters; at most 250/);
            assert.ok(head + tail + 8 + 8 + 6 + 2 + 4 > 250, `refused a pattern giving ${head + tail + 28} characters`);
            return;
          }
          const name = personalizationFileName(pattern, issuer, '2026-11-26', 999_999);
          for (const suffix of ['.tmp', '.part']) {
            writeFileSync(join(dir, name + suffix), '');
            rmSync(join(dir, name + suffix));
          }
        }), { numRuns: 200 });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
