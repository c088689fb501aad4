import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { LoadedConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { encryptStream, loadPrivateKey, loadRecipientKey } from '../../src/crypto/pgp.js';
import { silentLogger } from '../../src/log.js';
import { bureauView } from '../../src/config/bureau-view.js';
import { loadLayout, renderPersoFile } from '../../src/perso/index.js';
import type { AnsweredFile } from '../../src/sandbox/bureau.js';
import { freeLoopbackPort, initSandbox, type InitResult } from '../../src/sandbox/init.js';
import { SANDBOX_KEY_FILES as K } from '../../src/sandbox/keys.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/serve.js';
import { withSession } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { makeCard } from '../helpers/cards.js';
import { loadSandboxConfig, opensslVerify, readSandboxReport } from './helpers.js';

const CLOCK = () => new Date('2026-11-26T06:15:00Z');

/** The sandbox with two bureaus: each its own SFTP server, folders, keys and layout. */
describe('sandbox with two bureaus', function () {
  this.timeout(60_000);
  let base: string;
  let sandbox: InitResult;
  let config: LoadedConfig;
  let emb: Config;
  let running: RunningSandbox;

  before(async function () {
    base = mkdtempSync(join(tmpdir(), 'bx-sbx-bureaus-'));
    sandbox = await initSandbox(join(base, 'sbx'), { bureaus: 2 });
    config = loadSandboxConfig(sandbox.configFile);
    emb = bureauView(config, 'EMB01').config;
    running = await startSandbox(config, { log: silentLogger, poll: false, keepDecisions: true, clock: CLOCK });
  });
  after(async function () {
    await running?.close();
    rmSync(base, { recursive: true, force: true });
  });

  /** A file of `cards` cards as EMB01's send writes it: emb-v1 (CRLF), encrypted to EMB01's key, signed by us. */
  async function embFile(cards: number, options: { layout?: string; recipientKeysDir?: string } = {}): Promise<Buffer> {
    const layout = loadLayout(options.layout ?? 'emb-v1');
    const contracts = Array.from({ length: cards }, (_, i) => ({ ...makeCard(i + 1, { productCode: 'GOLD01' }), id: i + 1 }));
    const ctx = { issuerCode: 'BXISSUER', bureauCode: 'EMB01', businessDate: '2026-11-25', sequence: 1, createdAt: CLOCK(), environment: 'T' as const };
    const clear = await buffer(renderPersoFile(layout, ctx, contracts));
    const keysDir = options.recipientKeysDir ?? sandbox.bureaus[1]!.keysDir;
    const pin = keysDir === sandbox.keysDir ? sandbox.keys.bureauFingerprint : sandbox.bureaus[1]!.pins.bureauFingerprint;
    const { key } = await loadRecipientKey(join(keysDir, K.bureauPgpPublic), pin, { warnDays: 0, log: silentLogger, purpose: 'bureau' });
    const signingKey = await loadPrivateKey(join(sandbox.keysDir, K.issuerPgpSecret), undefined);
    return buffer(encryptStream(Readable.from([clear]), { recipients: [key], signingKey, armor: false }));
  }

  /** Uploads through our SFTP transport with EMB01's account, as its send job does. */
  async function uploadToEmb(name: string, content: Buffer): Promise<void> {
    const transport = makeSftpTransport(emb.sftp, { log: silentLogger });
    await withSession(transport, (s) => s.uploadAtomic(Readable.from([content]), emb.sftp.inboundDir, name, content.length));
  }

  it('serves each bureau on its own port with its own host key and root', function () {
    const [first, second] = running.bureaus;
    assert.deepEqual(running.bureaus.map((b) => b.code), ['BUREAU01', 'EMB01']);
    assert.equal(first!.server!.port, config.sftp.port);
    assert.equal(second!.server!.port, emb.sftp.port);
    assert.notEqual(first!.server!.port, second!.server!.port);
    assert.equal(second!.server!.hostKeySha256, emb.sftp.hostKeySha256);
    assert.notEqual(first!.server!.hostKeySha256, second!.server!.hostKeySha256);
    assert.equal(second!.sftpRoot, join(sandbox.dir, 'bureaus', 'EMB01', 'sftp'));
  });

  it('reads an emb-v1 file in the second account with its layout and answers there, signed with its own key', async function () {
    const name = 'BXISSUER_EMB_20261125_000001.txt.pgp';
    await uploadToEmb(name, await embFile(40));
    const answers = await running.answerNewFiles();
    assert.equal(answers.length, 1, 'only the second bureau had a file');
    const answer: AnsweredFile = answers[0]!;
    assert.equal(answer.bureau, 'EMB01');
    assert.equal(answer.sourceFile, name);
    assert.equal(answer.accepted, true, answer.reason);
    assert.equal(answer.signatureVerified, true);
    assert.equal(answer.recordsReceived, 40);

    const out = join(running.bureaus[1]!.sftpRoot, emb.sftp.outboundDir);
    const report = join(out, answer.reportName);
    assert.ok(existsSync(report) && existsSync(`${report}.sig`), 'the report and its signature in the second account');
    assert.deepEqual(readdirSync(sandbox.outbound), [], 'nothing in the first account');
    const read = readSandboxReport(report, sandbox.keysDir);
    assert.equal(read.header.Bureau, 'EMB01');
    assert.equal(read.header.SourceFile, name);
    assert.equal(read.rejections.length + read.shipments.length, 40);
    assert.equal(opensslVerify(report, join(sandbox.bureaus[1]!.keysDir, K.bureauReportSigningPublic)), 'Verified OK');
    assert.notEqual(opensslVerify(report, join(sandbox.keysDir, K.bureauReportSigningPublic)), 'Verified OK', "not the first bureau's signature");
    assert.ok(existsSync(join(sandbox.dir, 'bureaus', 'EMB01', 'bureau-state.json')), 'the second bureau remembers on its own');
  });

  it("refuses a file in another bureau's format, encrypted to another bureau's key, or dated otherwise than its name", async function () {
    await uploadToEmb('BXISSUER_EMB_20261125_000002.txt.pgp', await embFile(3, { layout: 'perso-v1' }));
    await uploadToEmb('BXISSUER_EMB_20261125_000003.txt.pgp', await embFile(3, { recipientKeysDir: sandbox.keysDir }));
    await uploadToEmb('BXISSUER_EMB_20261127_000001.txt.pgp', await embFile(3));
    const [format, key, date, ...more] = await running.answerNewFiles();
    assert.equal(more.length, 0);
    assert.equal(date!.accepted, false);
    assert.match(date!.reason!, /header field businessDate is "261125", expected "261127" \(the date in the file name\)/);
    assert.equal(format!.accepted, false);
    assert.match(format!.reason!, /record 1: ends with LF; the layout says CRLF/);
    assert.equal(key!.accepted, false);
    assert.match(key!.reason!, /cannot decrypt/);
  });

  it('says so when the config names a bureau the sandbox did not make', async function () {
    // the first bureau on a port of its own: the sandbox of this suite is still serving
    const port = await freeLoopbackPort([config.sftp.port, emb.sftp.port]);
    const other = { ...config, sftp: { ...config.sftp, port }, bureaus: [config.bureaus[0]!, { ...config.bureaus[1]!, code: 'EMB02' }] };
    await assert.rejects(startSandbox(other, { log: silentLogger, poll: false }), /keys\/EMB02\/sftp-host\.key is missing: bureau EMB02 was not made by `sandbox init`/);
  });
});
