import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG_FILE, loadConfig, PROJECT_ROOT } from '../../src/config/load.js';
import { fileNamesCanCollide } from '../../src/config/bureaus.js';
import { configSchema } from '../../src/config/schema.js';
import fc from 'fast-check';
import { routeCard } from '../../src/domain/routing.js';
import { ConfigError } from '../../src/errors.js';
import { makeCard } from '../helpers/cards.js';

const LAYOUTS = join(PROJECT_ROOT, 'config', 'layouts');
const HOST_KEY = `SHA256:${'A'.repeat(43)}`;

/** Two bureaus: the processor's own (perso-v1) and a second one (emb-v1), cards routed by product and country. */
const TWO_BUREAUS = `
issuer: { code: BXISSUER }
environment: P
bureaus:
  - code: BUREAU01
    name: Processor bureau
    layout: perso-v1
    pgp: { bureauPublicKeyFile: keys/bureau01.asc, bureauFingerprint: "${"AAAA ".repeat(10).trim()}" }
    sftp: { host: sftp.bureau01.example, username: bx, hostKeySha256: "${HOST_KEY}", privateKeyFile: keys/sftp01.key }
    reports: { signingPublicKeyFile: keys/b01-sign.pem, signingKeySha256: "${'ab'.repeat(32)}" }
  - code: EMB01
    name: Embossing partner
    layout: emb-v1
    pgp: { bureauPublicKeyFile: /etc/bx/emb01.asc, bureauFingerprint: "${"BBBB".repeat(10)}" }
    sftp: { host: sftp.emb.example, username: issuer7, hostKeySha256: "${HOST_KEY}", inboundDir: /in, outboundDir: /out }
    reports: { pattern: "^{issuer}_REPORT_\\\\d{8}_\\\\d{6}\\\\.xml\\\\.pgp$" }
    sendAt: ["11:00", "15:30"]
routing:
  rules:
    - { bureau: EMB01, when: { productCode: [gold02, BIZ01], country: DEU } }
    - { bureau: EMB01, when: { deliveryMethod: 4 } }
  default: BUREAU01
schedule: { sendAt: ["17:00"] }
`;

describe('config: bureaus and routing', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bx-bureaus-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (yaml: string, name = 'config.yaml') => {
    writeFileSync(join(dir, name), yaml);
    return join(dir, name);
  };
  const refused = (yaml: string, key: string, pattern: RegExp) => {
    assert.throws(() => loadConfig(write(yaml), {}), (err: Error) => {
      assert.ok(err instanceof ConfigError, err.message);
      assert.ok(err.message.includes(`${key}: `), `names ${key}: ${err.message}`);
      assert.match(err.message, pattern);
      return true;
    });
  };

  it('loads today\'s single-bureau config unchanged, as a list of one bureau with a default route', () => {
    const config = loadConfig(DEFAULT_CONFIG_FILE, {});
    assert.equal(config.bureaus.length, 1);
    const [bureau] = config.bureaus;
    assert.deepEqual(
      [bureau!.code, bureau!.name, bureau!.layout, bureau!.lineEnding, bureau!.fileNamePattern, bureau!.sendAt],
      ['BUREAU01', 'BUREAU01', join(LAYOUTS, 'perso-v1.yaml'), 'LF', '{issuer}_PERSO_{date}_{seq}.dat.pgp', ['17:00']],
    );
    assert.equal(bureau!.pgp, config.pgp, 'the top-level sections are the bureau\'s own');
    assert.equal(bureau!.sftp, config.sftp);
    assert.equal(bureau!.reports, config.reports);
    assert.deepEqual(config.routing, { rules: [], default: 'BUREAU01' });
    assert.deepEqual(
      [config.bureau.code, config.perso.layout, config.perso.lineEnding, config.perso.fileNamePattern, config.perso.maxCardsPerFile],
      ['BUREAU01', 'perso-v1', 'LF', '{issuer}_PERSO_{date}_{seq}.dat.pgp', 500_000],
    );
  });

  it('a single-bureau config takes line ending and file name from its layout unless it gives them', () => {
    const emb = loadConfig(write('issuer: { code: BX }\nbureau: { code: EMB01 }\nperso: { layout: emb-v1 }\n'), {});
    assert.deepEqual([emb.perso.lineEnding, emb.perso.fileNamePattern], ['CRLF', '{issuer}_EMB_{date}_{seq}.txt.pgp']);
    const own = loadConfig(write('issuer: { code: BX }\nbureau: { code: B1 }\nperso: { lineEnding: CRLF, fileNamePattern: "{issuer}-{date}-{seq}.pgp" }\n'), {});
    assert.deepEqual([own.bureaus[0]!.lineEnding, own.bureaus[0]!.fileNamePattern], ['CRLF', '{issuer}-{date}-{seq}.pgp']);
  });

  it('loads several bureaus, each with its own layout, keys, SFTP account, report keys and cut-offs; the first is the top-level one', () => {
    const config = loadConfig(write(TWO_BUREAUS), {});
    const [b1, emb] = config.bureaus as [typeof config.bureaus[0], typeof config.bureaus[0]];
    assert.deepEqual([b1.code, b1.name, b1.layout, b1.lineEnding, b1.sendAt], ['BUREAU01', 'Processor bureau', join(LAYOUTS, 'perso-v1.yaml'), 'LF', ['17:00']]);
    assert.deepEqual([emb.code, emb.layout, emb.lineEnding, emb.fileNamePattern, emb.sendAt],
      ['EMB01', join(LAYOUTS, 'emb-v1.yaml'), 'CRLF', '{issuer}_EMB_{date}_{seq}.txt.pgp', ['11:00', '15:30']]);
    assert.equal(b1.pgp.bureauPublicKeyFile, join(dir, 'keys/bureau01.asc'), 'paths resolved against the config file');
    assert.equal(b1.sftp.privateKeyFile, join(dir, 'keys/sftp01.key'));
    assert.equal(b1.reports.signingPublicKeyFile, join(dir, 'keys/b01-sign.pem'));
    assert.equal(emb.pgp.bureauPublicKeyFile, '/etc/bx/emb01.asc');
    assert.deepEqual([emb.sftp.host, emb.sftp.inboundDir, emb.sftp.outboundDir, emb.sftp.processedDir], ['sftp.emb.example', '/in', '/out', '/outbound/processed']);
    assert.equal(config.pgp, b1.pgp);
    assert.deepEqual([config.bureau.code, config.sftp.host, config.perso.layout, config.schedule.sendAt], ['BUREAU01', 'sftp.bureau01.example', 'perso-v1', ['17:00']]);
    assert.deepEqual(config.routing, {
      rules: [
        { bureau: 'EMB01', when: { productCode: ['GOLD02', 'BIZ01'], country: ['DEU'] } },
        { bureau: 'EMB01', when: { deliveryMethod: ['4'] } },
      ],
      default: 'BUREAU01',
    });
    const route = (overrides: Parameters<typeof makeCard>[1]) => {
      const r = routeCard(makeCard(1, overrides), config.routing);
      return r.ok ? r.bureau : r.reason;
    };
    assert.deepEqual(
      [route({ productCode: 'GOLD02' }), route({ productCode: 'GOLD02', country: 'FRA' }), route({ deliveryMethod: 4 }), route({})],
      ['EMB01', 'BUREAU01', 'EMB01', 'BUREAU01'],
    );
  });

  it('takes a layout given as a path, relative to the config file', () => {
    mkdirSync(join(dir, 'layouts'));
    writeFileSync(join(dir, 'layouts', 'acme.yaml'), readFileSync(join(LAYOUTS, 'emb-v1.yaml'), 'utf8').replace('name: emb-v1', 'name: acme'));
    const config = loadConfig(write('issuer: { code: BX }\nbureaus: [{ code: ACME, layout: layouts/acme.yaml }]\n'), {});
    assert.equal(config.bureaus[0]!.layout, join(dir, 'layouts', 'acme.yaml'));
    assert.deepEqual([config.perso.layout, config.perso.layoutsDir], ['acme', join(dir, 'layouts')]);
  });

  it('reads a parsed config again to the same config (written out as JSON, or extended and parsed again)', () => {
    for (const file of [DEFAULT_CONFIG_FILE, write(TWO_BUREAUS)]) {
      const { configFile: _, ...config } = loadConfig(file, {});
      const again = loadConfig(write(JSON.stringify(config), 'again.yaml'), {});
      const { configFile: __, ...same } = again;
      assert.deepEqual(same, config);
      assert.deepEqual(configSchema.parse(config), configSchema.parse(JSON.parse(JSON.stringify(config))));
    }
  });

  describe('refuses, naming the key', () => {
    const bureaus = (entries: string, rest = '') => `issuer: { code: BX }\nbureaus:\n${entries}${rest}`;
    const one = '  - { code: B1 }\n';
    it('a bad host key pin in the second bureau', () =>
      refused(bureaus(`${one}  - { code: B2, sftp: { hostKeySha256: "MD5:xx" } }\n`, 'routing: { default: B1 }\n'), 'bureaus[1].sftp.hostKeySha256', /OpenSSH fingerprint/));
    it('an unknown key in a bureau', () => refused(bureaus('  - { code: B1, sftp: { hots: x } }\n'), 'bureaus[0].sftp', /hots/));
    it('two bureaus with one code', () => refused(bureaus(`${one}${one}`, 'routing: { default: B1 }\n'), 'bureaus[1].code', /B1 is also the code of bureaus\[0\]/));
    it('several bureaus without routing', () => refused(bureaus(`${one}  - { code: B2 }\n`), 'routing', /required when there are several bureaus/));
    it('a rule naming an unknown bureau', () =>
      refused(bureaus(one, 'routing: { rules: [{ bureau: B1, when: { country: DEU } }, { bureau: B9, when: { country: FRA } }] }\n'), 'routing.rules[1].bureau', /B9 is not a configured bureau \(B1\)/));
    it('a default that does not exist', () => refused(bureaus(one, 'routing: { default: NOPE }\n'), 'routing.default', /NOPE is not a configured bureau/));
    it('a rule without conditions', () => refused(bureaus(one, 'routing: { rules: [{ bureau: B1, when: {} }] }\n'), 'routing.rules[0].when', /at least one of productCode, country/));
    it('a rule on an unknown card field', () => refused(bureaus(one, 'routing: { rules: [{ bureau: B1, when: { city: Paris } }] }\n'), 'routing.rules[0].when', /city/));
    it('a rule on a country that is not alpha-3', () => refused(bureaus(one, 'routing: { rules: [{ bureau: B1, when: { country: [DEU, DE] } }] }\n'), 'routing.rules[0].when.country[1]', /"DE" is not an ISO 3166 alpha-3/));
    it('a rule on a delivery method that does not exist', () => refused(bureaus(one, 'routing: { rules: [{ bureau: B1, when: { deliveryMethod: 7 } }] }\n'), 'routing.rules[0].when.deliveryMethod', /./));
    it('a bureau key at the top level beside bureaus', () => refused(bureaus(one, 'sftp: { host: x }\n'), 'sftp', /with bureaus, give sftp in each bureau/));
    it('perso.layout beside bureaus', () => refused(bureaus(one, 'perso: { layout: emb-v1 }\n'), 'perso.layout', /give layout in each bureau/));
    it('neither bureau nor bureaus', () => refused('issuer: { code: BX }\n', 'bureau', /required/));
    it('two bureaus sharing an SFTP folder', () =>
      refused(bureaus('  - { code: B1, sftp: { host: h.example } }\n  - { code: B2, sftp: { host: H.example, outboundDir: /outbound/ } }\n', 'routing: { default: B1 }\n'),
        'bureaus[1].sftp.inboundDir', /\/inbound on H\.example is also a folder of bureaus\[0\]/));
    it('a layout that does not exist', () => refused(bureaus(`${one}  - { code: B2, layout: emb-v9 }\n`, 'routing: { default: B1 }\n'), 'bureaus[1].layout', /emb-v9\.yaml does not exist/));
    it('a broken layout, naming its file and key too', () => {
      writeFileSync(join(dir, 'broken.yaml'), readFileSync(join(LAYOUTS, 'emb-v1.yaml'), 'utf8').replace('length: 21, type: AN, source: emboss.name', 'length: 22, type: AN, source: emboss.name'));
      refused(bureaus('  - { code: B1, layout: broken.yaml }\n'), 'bureaus[0].layout', /layout file .*broken\.yaml: records\.detail, field embossLine2: position 56 overlaps/);
    });
    it('a layout path that is not a .yaml file', () => refused(bureaus('  - { code: B1, layout: ./layouts/x.txt }\n'), 'bureaus[0].layout', /a path to a file <name>\.yaml/));
    it('a line ending the layout does not allow', () => refused(bureaus('  - { code: B1, layout: emb-v1, lineEnding: LF }\n'), 'bureaus[0].lineEnding', /LF is not a line ending layout emb-v1 allows \(CRLF\)/));
    it('the same in the single-bureau form', () => refused('issuer: { code: BX }\nbureau: { code: B1 }\nperso: { layout: emb-v1, lineEnding: LF }\n', 'perso.lineEnding', /emb-v1 allows \(CRLF\)/));
    it('a file name pattern without a sequence', () => refused(bureaus('  - { code: B1, fileNamePattern: "{issuer}_{date}.pgp" }\n'), 'bureaus[0].fileNamePattern', /needs \{seq\}/));
    it('a bad cut-off time', () => refused(bureaus('  - { code: B1, sendAt: ["7:00"] }\n'), 'bureaus[0].sendAt[0]', /a time HH:MM/));
    it('two bureaus of one layout and no pattern of their own: the same file names', () =>
      refused(bureaus(`${one}  - { code: B2, layout: perso-v1, sftp: { inboundDir: /b2-in, outboundDir: /b2-out } }\n`, 'routing: { default: B1 }\n'),
        'bureaus[1].fileNamePattern', /"\{issuer\}_PERSO_\{date\}_\{seq\}\.dat\.pgp" \(B2\) and bureaus\[0\]\.fileNamePattern "\{issuer\}_PERSO_\{date\}_\{seq\}\.dat\.pgp" \(B1\) could give the same file name/));
    it('a pattern that writes the issuer out where the other has {issuer}', () =>
      refused(bureaus(`${one}  - { code: B2, fileNamePattern: "BX_PERSO_{date}_{seq}.dat.pgp" }\n`, 'routing: { default: B1 }\n'),
        'bureaus[1].fileNamePattern', /\(B2\) and bureaus\[0\]\.fileNamePattern .* \(B1\) could give the same file name/));
    it('two patterns that meet for one sequence only (111111)', () =>
      refused(bureaus(`${one}  - { code: B2, layout: emb-v1 }\n  - { code: B3, fileNamePattern: "{issuer}_X_{date}_1{seq}" }\n  - { code: B4, fileNamePattern: "BX_X_{date}_{seq}1" }\n`, 'routing: { default: B1 }\n'),
        'bureaus[3].fileNamePattern', /\(B4\) and bureaus\[2\]\.fileNamePattern "\{issuer\}_X_\{date\}_1\{seq\}" \(B3\)/));
  });

  it('bureaus of one layout with patterns of their own load', () => {
    const config = loadConfig(write('issuer: { code: BX }\nbureaus:\n  - { code: B1 }\n  - { code: B2, fileNamePattern: "{issuer}_B2_{date}_{seq}.dat.pgp" }\nrouting: { default: B1 }\n'), {});
    assert.deepEqual(config.bureaus.map((b) => b.fileNamePattern), ['{issuer}_PERSO_{date}_{seq}.dat.pgp', '{issuer}_B2_{date}_{seq}.dat.pgp']);
  });

  describe('file names of two patterns (fileNamesCanCollide)', () => {
    it('tells apart what differs in a literal, a length or a digit the other fixes', () => {
      assert.equal(fileNamesCanCollide('{issuer}_PERSO_{date}_{seq}.dat.pgp', '{issuer}_EMB_{date}_{seq}.txt.pgp', 'BX'), false);
      assert.equal(fileNamesCanCollide('{date}_{seq}.pgp', '{date}_{seq}.gpg', 'BX'), false);
      assert.equal(fileNamesCanCollide('A{date}{seq}', 'A{date}{seq}0', 'BX'), false);
      assert.equal(fileNamesCanCollide('{date}_1{seq}', '{date}_{seq}2', 'BX'), false, 'the digits would all be 1 and the last 2');
      assert.equal(fileNamesCanCollide('{date}_1{seq}', '{date}_{seq}1', 'BX'), true, 'sequence 111111');
      assert.equal(fileNamesCanCollide('{issuer}{date}{seq}', '{date}{seq}{issuer}', 'BX'), false, 'B meets a digit');
      assert.equal(fileNamesCanCollide('{date}{seq}', '{date}{seq}', 'BX'), true);
      assert.equal(fileNamesCanCollide('{date}_{seq}', '{seq}_{date}', 'BX'), false, 'the underscore falls on a digit');
    });

    it('property: two patterns that give one name for some date and sequence are always reported', () => {
      const token = fc.constantFrom('{date}', '{seq}', '{issuer}', '_', 'X', '1', '0', '.pgp');
      const pattern = fc.array(token, { minLength: 1, maxLength: 5 }).map((t) => t.join(''));
      const date = fc.date({ min: new Date('2020-01-01'), max: new Date('2039-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
      fc.assert(fc.property(pattern, pattern, date, fc.integer({ min: 1, max: 999_999 }), (a, b, d, seq) => {
        const name = (p: string) => p.replace(/\{issuer\}/g, 'BX').replace(/\{date\}/g, d.replaceAll('-', '')).replace(/\{seq\}/g, String(seq).padStart(6, '0'));
        if (name(a) === name(b)) assert.ok(fileNamesCanCollide(a, b, 'BX'), `${a} and ${b} both give ${name(a)}`);
        if (a === b) assert.ok(fileNamesCanCollide(a, b, 'BX'));
      }), { numRuns: 2000 });
    });
  });
});
