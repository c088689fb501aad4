import { strict as assert } from 'node:assert';
import { mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pickReadyReports, reportKindOf, reportNamePattern, unsafeNameReason } from '../../src/inbound/pick-reports.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { luhnValid } from '../../src/security/mask.js';
import { withSession } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';

describe('inbound/pick-reports names', () => {
  it('accepts a plain report name and refuses traversal, separators, control characters and odd lengths', () => {
    assert.equal(unsafeNameReason('BXISSUER_REPORT_20261126_000001.xml.rsa'), null);
    const cases: Array<[string, RegExp]> = [
      ['../etc/passwd', /path separator/], ['..', /"\.\."/], ['a..b.xml.rsa', /"\.\."/], ['a\\b', /path separator/],
      ['a\0b', /control characters/], ['a\nb', /control characters/], ['', /length 0/], ['x'.repeat(201), /length 201/],
      [' lead', /characters outside/], ['ä.xml.rsa', /characters outside/], ['.hidden', /characters outside/],
    ];
    for (const [name, reason] of cases) assert.match(unsafeNameReason(name) ?? 'accepted', reason, JSON.stringify(name));
  });

  it('matches the configured pattern with {issuer} replaced, and tells the kind by extension', () => {
    const pattern = reportNamePattern(testConfig());
    assert.ok(pattern.test('BXISSUER_REPORT_20261126_000001.xml.rsa'));
    assert.ok(pattern.test('BXISSUER_REPORT_20261126_000001.xml.pgp'));
    assert.ok(!pattern.test('OTHER_REPORT_20261126_000001.xml.rsa'));
    assert.ok(!pattern.test('BXISSUER_REPORT_20261126_000001.xml.rsa.part'));
    assert.equal(reportKindOf('x.xml.rsa'), 'rsa');
    assert.equal(reportKindOf('x.xml.pgp'), 'pgp');
    assert.equal(reportKindOf('x.xml'), null);
  });
});

describe('inbound/pick-reports against a real sshd: what is left alone, and told', function () {
  let server: SshdServer;
  const outbound = (name = '') => join(server.root, 'outbound', name);

  before(async function () {
    requireSshd(this);
    server = await startSshd();
  });
  after(async () => server?.stop());
  beforeEach(() => {
    for (const name of readdirSync(outbound())) rmSync(outbound(name), { recursive: true, force: true });
  });

  function pickWith(ignored = new Set<string>(), reports: Record<string, unknown> = {}, now = () => new Date(Date.now() + 3_600_000)) {
    const lines: Array<{ level: string; msg: string; remoteName?: string; count?: number }> = [];
    const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, done) => { lines.push(JSON.parse(c.toString())); done(); } }) });
    const config = testConfig({ sftp: server.sftpConfig(), reports: { stableCheckSeconds: 0, signatures: 'off', ...reports } });
    const deps = { config, log, now, sleep: async () => undefined, ignored };
    const transport = makeSftpTransport(config.sftp, { log: silentLogger });
    return { lines, pick: () => withSession(transport, (s) => pickReadyReports(s, deps)) };
  }
  // (the run's own warning, reports.signatures off, is not about a file)
  const warnings = <L extends { level: string; msg: string }>(lines: L[]) => lines.filter((l) => l.level === 'warn' && !/reports\.signatures is off/.test(l.msg));

  it('tells of a folder or a symlink named as a report (it is never taken), once, and takes the real report beside them', async () => {
    const [asDir, asLink, real] = ['BXISSUER_REPORT_20261126_000001.xml.rsa', 'BXISSUER_REPORT_20261126_000002.xml.pgp', 'BXISSUER_REPORT_20261126_000003.xml.rsa'];
    mkdirSync(outbound(asDir));
    writeFileSync(outbound(real), 'report');
    symlinkSync(real, outbound(asLink));
    mkdirSync(outbound('processed'));
    const { lines, pick } = pickWith();
    assert.deepEqual((await pick()).map((r) => r.name), [real]);
    assert.deepEqual(warnings(lines).map((l) => [l.remoteName, l.msg]).sort(), [
      [JSON.stringify(asDir), 'remote report left alone: it is a folder, not a regular file'],
      [JSON.stringify(asLink), 'remote report left alone: it is a symlink or special file, not a regular file'],
    ], 'told once each; processed/ is not a report and says nothing');
    await pick();
    assert.equal(warnings(lines).length, 2, 'not told again by the same process');
  });

  it('a folder of 2,000 strangers is 20 warnings and one count, not 2,000 warnings; names gone from the server are forgotten', async () => {
    const names = Array.from({ length: 2000 }, (_, i) => `stranger-${String(i).padStart(4, '0')}.txt`);
    for (const name of names) writeFileSync(outbound(name), 'x');
    const ignored = new Set<string>();
    const { lines, pick } = pickWith(ignored);
    assert.deepEqual(await pick(), []);
    const told = warnings(lines);
    assert.equal(told.filter((l) => l.msg === 'remote file left alone: does not match reports.pattern').length, 20);
    assert.deepEqual(told.filter((l) => l.count !== undefined).map((l) => [l.count, l.msg]), [[1980, '1980 more remote files left alone: not logged one by one']]);
    assert.equal(told.length, 21);
    await pick();
    assert.equal(warnings(lines).length, 21, 'nothing new: nothing told');
    for (const name of names.slice(1)) rmSync(outbound(name));
    await pick();
    assert.deepEqual([...ignored], [names[0]], 'the names no longer listed are forgotten');
  });

  it('never logs a PAN held in a name it leaves alone, whatever groups its digits (property)', async function () {
    // a Luhn-valid PAN of 13 to 19 digits: its body, then the check digit that makes it valid
    const pan = fc.stringMatching(/^[1-9][0-9]{11,17}$/).map((body) => body + '0123456789'.split('').find((d) => luhnValid(body + d))!);
    const separator = fc.constantFrom('.', '_', '-', ' ', '..', '__', '+', ',', '~', '\\', '._');
    const letters = fc.stringMatching(/^[A-Za-z]{0,6}$/);
    const name = fc.tuple(letters, pan, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), separator, fc.stringMatching(/^[0-9]{0,4}$/), letters)
      .map(([before, digits, cuts, sep, more, after]) => {
        const at = [...new Set(cuts.map((c) => 1 + (c % (digits.length - 1))))].sort((a, b) => a - b);
        const groups = [0, ...at].map((from, i) => digits.slice(from, at[i] ?? digits.length));
        return { pan: digits, name: `${before}${more}${more ? sep : ''}${groups.join(sep)}${after}.txt` };
      });
    await fc.assert(fc.asyncProperty(fc.uniqueArray(name, { minLength: 1, maxLength: 20, selector: (n) => n.name }), async (files) => {
      for (const name of readdirSync(outbound())) rmSync(outbound(name), { force: true });
      for (const f of files) writeFileSync(outbound(f.name), 'x');
      const { lines, pick } = pickWith();
      await pick();
      const shown = warnings(lines).filter((l) => l.remoteName !== undefined).map((l) => JSON.parse(l.remoteName!) as string);
      assert.equal(shown.length, files.length, 'each name is told');
      for (const f of files) {
        assert.ok(!shown.some((n) => n.replace(/[^0-9]/g, '').includes(f.pan)), `${f.pan} shown in full in ${JSON.stringify(shown)}`);
      }
    }), { numRuns: 25 });
  });

  it('takes a report beside a symlink or folder named as its .sig once it is stable (it waited forever, "still being written")', async function () {
    const [withLink, withDir] = ['BXISSUER_REPORT_20261126_000011.xml.rsa', 'BXISSUER_REPORT_20261126_000012.xml.rsa'];
    writeFileSync(outbound(withLink), 'report');
    writeFileSync(outbound(withDir), 'report');
    symlinkSync('/nowhere', outbound(`${withLink}.sig`));
    mkdirSync(outbound(`${withDir}.sig`));
    const { pick } = pickWith(new Set(), { stableCheckSeconds: 1 });
    assert.deepEqual((await pick()).map((r) => [r.name, r.signature]), [[withLink, null], [withDir, null]]);
  });

  it('tells of a report whose time is hours ahead of our clock (it waits that long), once, and takes it when its time has come', async function () {
    const name = 'BXISSUER_REPORT_20261126_000021.xml.pgp';
    writeFileSync(outbound(name), 'report');
    const ahead = new Date(Date.now() + 6 * 3_600_000);
    utimesSync(outbound(name), ahead, ahead);
    let now = new Date();
    const { lines, pick } = pickWith(new Set(), {}, () => now);
    assert.deepEqual(await pick(), []);
    await pick();
    assert.deepEqual(warnings(lines).map((l) => [l.remoteName, l.msg]), [[JSON.stringify(name),
      `report left for now: modified ${new Date(Math.floor(ahead.getTime() / 1000) * 1000).toISOString()}, in the future by our clock (the server's clock ahead?): taken once it is reports.minAgeSeconds old`]]);
    now = new Date(ahead.getTime() + 61_000);
    assert.deepEqual((await pick()).map((r) => r.name), [name]);
  });
});
