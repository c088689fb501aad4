import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_LAYOUTS_DIR, layoutFromObject, loadLayout } from '../../src/perso/index.js';

const V1_FILE = join(DEFAULT_LAYOUTS_DIR, 'perso-v1.yaml');
const v1Document = () => parseYaml(readFileSync(V1_FILE, 'utf8'));

/** The tables of docs/bureau-interface.md section 1: [position, length, type] in order. */
const INTERFACE = {
  header: [[1, 1, 'constant'], [2, 8, 'constant'], [10, 8, 'AN'], [18, 8, 'AN'], [26, 8, 'date'], [34, 6, 'N'], [40, 6, 'N'], [46, 3, 'constant'], [49, 1, 'AN'], [50, 401, 'filler']],
  detail: [[1, 1, 'constant'], [2, 7, 'N'], [9, 15, 'N'], [24, 12, 'N'], [36, 19, 'AN'], [55, 3, 'N'], [58, 4, 'N'], [62, 10, 'AN'], [72, 26, 'AN'], [98, 26, 'AN'], [124, 26, 'AN'], [150, 4, 'AN'], [154, 30, 'AN'], [184, 30, 'AN'], [214, 40, 'AN'], [254, 40, 'AN'], [294, 40, 'AN'], [334, 10, 'AN'], [344, 30, 'AN'], [374, 3, 'AN'], [377, 10, 'AN'], [387, 20, 'AN'], [407, 1, 'N'], [408, 1, 'AN'], [409, 42, 'filler']],
  trailer: [[1, 1, 'constant'], [2, 7, 'N'], [9, 7, 'N'], [16, 15, 'N'], [31, 8, 'date'], [39, 6, 'N'], [45, 406, 'filler']],
} as const;

describe('perso/layout', () => {
  it('loads perso-v1 as the tables of the interface document', () => {
    const layout = loadLayout('perso-v1');
    assert.equal(layout.recordLength, 450);
    assert.equal(layout.file, V1_FILE);
    for (const role of ['header', 'detail', 'trailer'] as const) {
      const fields = layout[role]!.fields.map((f) => [f.position, f.length, f.type]);
      assert.deepEqual(fields, INTERFACE[role], role);
    }
    assert.deepEqual([layout.header!.code, layout.detail.code, layout.trailer!.code], ['H', 'D', 'T']);
    assert.deepEqual(layout.lineEndings, ['LF', 'CRLF'], 'LF, CRLF as an option');
    assert.equal(layout.fileNamePattern, '{issuer}_PERSO_{date}_{seq}.dat.pgp');
    assert.deepEqual(layout.mustBeEmpty, []);
  });

  it('a layout without lineEnding allows both, LF first', () => {
    const doc = v1Document();
    delete doc.lineEnding;
    assert.deepEqual(layoutFromObject(doc, '/layouts/x.yaml').lineEndings, ['LF', 'CRLF']);
  });

  it('pads constants and knows each field\'s alignment and padding', () => {
    const layout = loadLayout('perso-v1');
    const field = (name: string) => layout.detail.fields.find((f) => f.name === name)!;
    assert.deepEqual([field('contractId').align, field('contractId').padding], ['right', '0']);
    assert.deepEqual([field('pan').align, field('pan').padding], ['left', ' ']);
    assert.equal(layout.header!.fields.find((f) => f.name === 'formatVersion')!.value, '001');
  });

  describe('refuses a broken layout with a ConfigError naming the file and the field', () => {
    const refused = (edit: (doc: any) => void, message: RegExp) => {
      const doc = v1Document();
      edit(doc);
      assert.throws(() => layoutFromObject(doc, '/layouts/broken.yaml'), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, /^layout file \/layouts\/broken\.yaml: /);
        assert.match(err.message, message);
        return true;
      });
    };
    const detailField = (doc: any, name: string) => doc.records.detail.fields.find((f: any) => f.name === name);

    it('overlapping positions', () => refused((d) => (detailField(d, 'psn').position = 54), /records\.detail, field psn: position 54 overlaps the field before it \(which ends at 54\)/));
    it('a gap', () => refused((d) => (detailField(d, 'pan').length = 18), /records\.detail, field psn: gap: positions 54–54 belong to no field/));
    it('a record length that does not match', () => refused((d) => (d.recordLength = 451), /records\.header, field filler: the fields end at 450 but recordLength is 451/));
    it('an unknown source', () => refused((d) => (detailField(d, 'city').source = 'card.town'), /records\.detail, field city: unknown source card\.town/));
    it('a source in the wrong record', () => refused((d) => d.records.header.fields.splice(2, 1, { name: 'issuerCode', position: 10, length: 8, type: 'AN', source: 'totals.hashTotal' }), /records\.header, field issuerCode: source totals\.hashTotal cannot appear in the header/));
    it('a card field in the trailer', () => refused((d) => (d.records.trailer.fields[1].source = 'card.pan'), /records\.trailer, field detailCount: source card\.pan belongs in a detail record/));
    it('a field without a source', () => refused((d) => delete detailField(d, 'city').source, /field city: type AN needs a source/));
    it('a constant without a value', () => refused((d) => delete d.records.trailer.fields[0].value, /records\.trailer, field recordType: a constant needs a value/));
    it('a constant longer than its field', () => refused((d) => (d.records.header.fields[1].value = 'PERSOREQX'), /field fileType: constant "PERSOREQX" must be printable ASCII of at most 8/));
    it('a date of the wrong length', () => refused((d) => (d.records.header.fields[4].format = 'YYMMDD'), /field businessDate: format YYMMDD needs length 6, not 8/));
    it('a wrong type', () => refused((d) => (detailField(d, 'city').type = 'X'), /records\.detail, field city \(type\)/));
    it('an unknown key', () => refused((d) => (detailField(d, 'city').colour = 'red'), /records\.detail, field city/));
    it('a field named twice', () => refused((d) => (detailField(d, 'title').name = 'firstName'), /field firstName: appears twice/));
    it('a record type without its code at the type-code position', () => refused((d) => (d.records.detail.fields[0].value = 'X'), /records\.detail: needs a constant field with value "D" at position 1/));
    it('a transform on a field it does not apply to', () => refused((d) => (detailField(d, 'city').transform = 'country-alpha2'), /records\.detail, field city: transform country-alpha2 applies to AN fields from card\.country only/));
    it('an unknown transform', () => refused((d) => (detailField(d, 'country').transform = 'country-numeric'), /records\.detail, field country \(transform\)/));
    it('a transformed field with a values list', () => refused((d) => Object.assign(detailField(d, 'country'), { transform: 'country-alpha2', values: ['DE'] }), /field country: a transformed field takes no values list/));
    it('an unknown line ending', () => refused((d) => (d.lineEnding = 'CR'), /^layout file \/layouts\/broken\.yaml: lineEnding/));
    it('a line ending named twice', () => refused((d) => (d.lineEnding = ['LF', 'LF']), /lineEnding: LF, LF names one twice/));
    it('a file name pattern without {seq}', () => refused((d) => (d.fileNamePattern = '{issuer}_PERSO_{date}.dat.pgp'), /fileNamePattern: needs \{seq\}/));
    it('a file name pattern with an unknown placeholder', () => refused((d) => (d.fileNamePattern = '{issuer}_{day}_{date}_{seq}'), /fileNamePattern: unknown placeholder \{day\}/));
    it('a file name pattern that leaves its folder', () => refused((d) => (d.fileNamePattern = '../{date}_{seq}'), /fileNamePattern: .* does not give a plain file name/));
    it('mustBeEmpty naming a field the layout writes', () => refused((d) => (d.mustBeEmpty = ['card.city']), /mustBeEmpty\[0\]: card\.city has a field in the detail record/));
    it('mustBeEmpty naming no card field', () => refused((d) => (d.mustBeEmpty = ['card.town']), /mustBeEmpty\[0\]: "card\.town" is not a card\.<field> source/));
    it('two record types with one code', () => refused((d) => {
      d.records.trailer.code = 'D';
      d.records.trailer.fields[0].value = 'D';
    }, /record type codes must differ/));
  });

  describe('loading from a folder', () => {
    let dir: string;
    before(() => (dir = mkdtempSync(join(tmpdir(), 'bx-layouts-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('loads a second bureau\'s layout from its own file', () => {
      const doc = v1Document();
      doc.name = 'other-bureau';
      delete doc.records.header;
      writeFileSync(join(dir, 'other-bureau.yaml'), JSON.stringify(doc));
      const layout = loadLayout('other-bureau', dir);
      assert.equal(layout.name, 'other-bureau');
      assert.equal(layout.header, undefined);
    });

    it('names a missing file, invalid YAML, and refuses names that are paths', () => {
      assert.throws(() => loadLayout('absent', dir), (err: unknown) => err instanceof ConfigError && err.message.includes(join(dir, 'absent.yaml')));
      writeFileSync(join(dir, 'bad.yaml'), 'records: [unclosed');
      assert.throws(() => loadLayout('bad', dir), /layout file .*bad\.yaml is not valid YAML/);
      assert.throws(() => loadLayout('../perso-v1', dir), /not a plain file name/);
    });
  });
});
