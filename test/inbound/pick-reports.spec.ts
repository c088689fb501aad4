import { strict as assert } from 'node:assert';
import { reportKindOf, reportNamePattern, unsafeNameReason } from '../../src/inbound/pick-reports.js';
import { testConfig } from '../helpers/config.js';

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
