import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { LoadedConfig } from '../../src/config/load.js';
import { encryptStream, loadPrivateKey, loadRecipientKey } from '../../src/crypto/pgp.js';
import { silentLogger } from '../../src/log.js';
import { loadLayout, renderPersoFile } from '../../src/perso/index.js';
import { makeBureauSimulator, type AnsweredFile } from '../../src/sandbox/bureau.js';
import { BUREAU_STATE_FILE } from '../../src/sandbox/bureau-state.js';
import { initSandbox, type InitResult } from '../../src/sandbox/init.js';
import { SANDBOX_KEY_FILES as K } from '../../src/sandbox/keys.js';
import { loadBureauSettings } from '../../src/sandbox/settings.js';
import { makeCard } from '../helpers/cards.js';
import { createGpgHome } from '../helpers/gpg.js';
import { loadSandboxConfig, opensslVerify, readSandboxReport } from './helpers.js';

const NAME = 'BXISSUER_PERSO_20261125_000001.dat.pgp';

const CLOCK = () => new Date('2026-11-26T06:15:00Z');

describe('sandbox bureau simulator', function () {
  let base: string;
  let sandbox: InitResult;
  let config: LoadedConfig;

  before(async function () {
    base = mkdtempSync(join(tmpdir(), 'bx-bureau-'));
    sandbox = await initSandbox(join(base, 'sbx'));
    config = loadSandboxConfig(sandbox.configFile);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  const simulator = (overrides: Record<string, unknown> = {}, stateFile = join(sandbox.dir, BUREAU_STATE_FILE)) => makeBureauSimulator({
    config, sftpRoot: sandbox.sftpRoot, keysDir: sandbox.keysDir, stateFile, clock: CLOCK, log: silentLogger, keepDecisions: true,
    settings: loadBureauSettings(sandbox.settingsFile, { rejectRate: 0.2, shipRate: 0.5, ...overrides }),
  });

  /** A personalization file as the send job writes it: rendered, encrypted to the bureau, signed by us. */
  async function persoFile(cards: number, edit?: (clear: string) => string): Promise<Buffer> {
    const layout = loadLayout('perso-v1');
    const contracts = Array.from({ length: cards }, (_, i) => ({ ...makeCard(i + 1, { productCode: i % 3 ? 'CLASSIC01' : 'GOLD01' }), id: i + 1 }));
    const ctx = { issuerCode: 'BXISSUER', bureauCode: 'BUREAU01', businessDate: '2026-11-25', sequence: 1, createdAt: CLOCK(), environment: 'T' as const, lineEnding: 'LF' as const };
    let clear = (await buffer(renderPersoFile(layout, ctx, contracts))).toString('latin1');
    if (edit) clear = edit(clear);
    const { key } = await loadRecipientKey(join(sandbox.keysDir, K.bureauPgpPublic), sandbox.keys.bureauFingerprint, { warnDays: 0, log: silentLogger, purpose: 'bureau' });
    const signingKey = await loadPrivateKey(join(sandbox.keysDir, K.issuerPgpSecret), undefined);
    return buffer(encryptStream(Readable.from([Buffer.from(clear, 'latin1')]), { recipients: [key], signingKey, armor: false }));
  }

  function drop(name: string, content: Buffer): void {
    writeFileSync(join(sandbox.inbound, name), content);
  }

  function reportOf(answer: AnsweredFile) {
    return readSandboxReport(join(sandbox.outbound, answer.reportName), sandbox.keysDir);
  }

  it('answers a good file once, with every record either rejected or shipped, RSA-encrypted to our key', async function () {
    drop(NAME, await persoFile(200));
    const [answer, ...more] = await simulator().answerNewFiles();
    assert.equal(more.length, 0);
    assert.ok(answer);
    assert.equal(answer.accepted, true, answer.reason);
    assert.equal(answer.signatureVerified, true);
    assert.equal(answer.rejected + answer.shipped + answer.expected, 200);
    assert.match(answer.reportName, /^BXISSUER_REPORT_20261126_\d{6}\.xml\.rsa$/);
    assert.deepEqual(readdirSync(sandbox.outbound).sort(), [answer.reportName, `${answer.reportName}.sig`], 'no temp file left behind');
    assert.equal(opensslVerify(join(sandbox.outbound, answer.reportName), join(sandbox.keysDir, K.bureauReportSigningPublic)), 'Verified OK');

    const report = reportOf(answer);
    assert.equal(report.header.SourceFile, NAME);
    assert.equal(report.header.RecordsReceived, '200');
    assert.equal(report.header.ReportDate, '2026-11-26');
    const rejected = report.rejections.map((r) => Number(r.RecordSequence));
    const shipped = report.shipments.map((s) => Number(s.RecordSequence));
    assert.deepEqual([...rejected, ...shipped].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
    assert.ok(rejected.length > 10 && rejected.length < 80, `about 20% rejected, got ${rejected.length}`);
    for (const r of report.rejections) assert.match(`${r.Code} ${r.Reason}`, /^(012 Unregistered plastic|021 Embossing data invalid|034 Address undeliverable)$/);
    assert.equal(report.rejections[0]!.CardContractId.length, 15, 'ids as written in the file, leading zeros kept');

    const actual = report.shipments.filter((s) => s.ShipDate);
    const expected = report.shipments.filter((s) => !s.ShipDate);
    assert.ok(actual.length > 0 && expected.length > 0);
    for (const s of actual) assert.ok(s.Courier && s.TrackingNumber, 'a shipped card has courier and tracking');
    for (const s of expected) assert.ok(['2026-11-27', '2026-11-30', '2026-12-01'].includes(s.ExpectedShipDate!), `next business days, got ${s.ExpectedShipDate}`);

    const stock = Object.fromEntries(report.stock.map((i) => [i.ProductCode, i]));
    assert.deepEqual(Object.keys(stock).sort(), ['CLASSIC01', 'GOLD01']);
    for (const item of report.stock) {
      assert.equal(Number(item.Closing), Number(item.Opening) + Number(item.Received) - Number(item.Used) - Number(item.Spoiled));
    }
    assert.equal(report.stock.reduce((n, i) => n + Number(i.Used), 0), report.shipments.length);

    assert.deepEqual(await simulator().answerNewFiles(), [], 'a file is answered once, also by a new simulator on the same state');
  });

  it('writes .pgp reports signed by the bureau key when asked: gpg decrypts them with our key and finds a good signature by the bureau', async function () {
    const file = 'BXISSUER_PERSO_20261125_000007.dat.pgp';
    drop(file, await persoFile(20, (clear) => clear.replace(/^(H.{38})000001/, '$1000007').replace(/(\nT.{37})000001/, '$1000007')));
    const answer = (await simulator({ reportKind: 'pgp' }).answerNewFiles()).find((a) => a.sourceFile === file)!;
    assert.equal(answer.accepted, true, answer.reason);
    assert.match(answer.reportName, /\.xml\.pgp$/);
    assert.ok(!existsSync(join(sandbox.outbound, `${answer.reportName}.sig`)), 'the signature of a .pgp report is inside it');
    const gpg = createGpgHome();
    try {
      gpg.importKey(join(sandbox.keysDir, K.issuerPgpSecret));
      gpg.importKey(join(sandbox.keysDir, K.bureauPgpPublic));
      const read = gpg.gpgDecryptWithStatus(join(sandbox.outbound, answer.reportName));
      assert.ok(read.ok, read.stderr);
      assert.match(read.status, new RegExp(`VALIDSIG ${sandbox.keys.bureauFingerprint}`));
      assert.match(read.clear.toString('utf8'), new RegExp(`<SourceFile>${file}</SourceFile>`));
    } finally {
      gpg.cleanup();
    }
  });

  it('gives the same decisions for the same seed and file, and others for another seed', async function () {
    const file = 'BXISSUER_PERSO_20261125_000002.dat.pgp';
    const content = await persoFile(100, (clear) => clear.replace(/^(H.{38})000001/, '$1000002').replace(/(\nT.{37})000001/, '$1000002'));
    drop(file, content);
    const decide = async (seed: number, tag: string) => {
      const answer = (await simulator({ seed }, join(base, `state-${tag}.json`)).answerNewFiles()).find((a) => a.sourceFile === file)!;
      assert.equal(answer.accepted, true, answer.reason);
      return answer.decisions!.rejections.map((r) => r.recordSequence);
    };
    const first = await decide(7, 'a');
    assert.deepEqual(await decide(7, 'b'), first);
    assert.notDeepEqual(await decide(8, 'c'), first);
  });

  it('rejects every record of a file whose trailer hash total is wrong, saying so', async function () {
    const file = 'BXISSUER_PERSO_20261125_000003.dat.pgp';
    drop(file, await persoFile(5, (clear) => clear
      .replace(/^(H.{38})000001/, '$1000003').replace(/(\nT.{37})000001/, '$1000003')
      .replace(/(\nT.{14})(\d{15})/, (_m, head: string, hash: string) => head + String(BigInt(hash) + 1n).padStart(15, '0'))));
    const answer = (await simulator().answerNewFiles()).find((a) => a.sourceFile === file)!;
    assert.equal(answer.accepted, false);
    assert.match(answer.reason!, /hashTotal/);
    const report = reportOf(answer);
    assert.equal(report.rejections.length, 5);
    assert.equal(report.shipments.length, 0);
    for (const r of report.rejections) {
      assert.equal(r.Code, '090');
      assert.match(r.Reason!, /^File rejected: .*hashTotal/);
    }
  });

  it('rejects a file with a bad field, naming the record and field', async function () {
    const file = 'BXISSUER_PERSO_20261125_000004.dat.pgp';
    drop(file, await persoFile(3, (clear) => clear
      .replace(/^(H.{38})000001/, '$1000004').replace(/(\nT.{37})000001/, '$1000004')
      .replace(/(\nD0000002.{398})1/, '$19')));
    const answer = (await simulator().answerNewFiles()).find((a) => a.sourceFile === file)!;
    assert.equal(answer.accepted, false);
    assert.match(answer.reason!, /record 3.*deliveryMethod/);
    assert.equal(reportOf(answer).rejections.length, 3, 'the bad record is still named by its ids');
  });

  it('answers a file it cannot decrypt with a report saying why, and leaves other names alone', async function () {
    const file = 'BXISSUER_PERSO_20261125_000005.dat.pgp';
    drop(file, Buffer.from('this is not an OpenPGP message'));
    drop('README.txt', Buffer.from('not for the bureau'));
    drop('BXISSUER_PERSO_20261125_000006.dat.pgp.part', Buffer.from('still uploading'));
    const answers = await simulator().answerNewFiles();
    assert.deepEqual(answers.map((a) => a.sourceFile), [file]);
    assert.equal(answers[0]!.accepted, false);
    assert.match(answers[0]!.reason!, /cannot decrypt/);
    const report = reportOf(answers[0]!);
    assert.equal(report.header.RecordsReceived, '0');
    assert.ok(existsSync(join(sandbox.inbound, 'README.txt')));
    assert.ok(statSync(join(sandbox.dir, BUREAU_STATE_FILE)).size > 0);
  });
});
