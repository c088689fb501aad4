import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listContracts, type ContractListing } from '../../src/db/contracts.js';
import { canonicalId } from '../../src/domain/contract.js';
import { openDatabase } from '../../src/db/connection.js';
import { runDemo, type DemoOutcome } from '../../src/sandbox/demo.js';
import { SANDBOX_KEY_FILES as K } from '../../src/sandbox/keys.js';
import { runCli } from '../helpers/cli.js';
import { requireOrSkip } from '../helpers/ci.js';
import { createTestDatabase, databaseUnavailableReason } from '../helpers/db.js';
import { requireGpg } from '../helpers/gpg.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { readSandboxReport, type ReadReport } from '../sandbox/helpers.js';

const CARDS = 300;

/**
 * Every card's final status against the report file as the bureau wrote it — decrypted and read
 * here independently of the demo's own check and of the receive job.
 */
async function assertEveryCardMatchesTheReport(outcome: DemoOutcome, sftpRoot: string): Promise<void> {
  const db = openDatabase(outcome.config);
  let contracts: ContractListing[];
  try {
    contracts = await listContracts(db, { limit: CARDS + 10 });
  } finally {
    await db.destroy();
  }
  assert.equal(contracts.length, CARDS);
  const processed = join(sftpRoot, outcome.config.sftp.processedDir);
  const names = readdirSync(processed).sort();
  assert.deepEqual(names.map((n) => n.replace(/^.*\.xml\./, '')), ['rsa', 'rsa.sig'], 'one signed report, applied and moved to processed/ with its signature');
  const reports: ReadReport[] = [readSandboxReport(join(processed, names[0]!), outcome.sandbox.keysDir)];
  const report = reports[0]!;
  const byCard = new Map<string, { rejection?: Record<string, string>; shipment?: Record<string, string> }>();
  const key = (r: Record<string, string>) => `${canonicalId(r.CardContractId!)}/${canonicalId(r.PlasticId!)}`;
  for (const r of report.rejections) byCard.set(key(r), { rejection: r });
  for (const s of report.shipments) byCard.set(key(s), { shipment: s });

  let invalid = 0;
  for (const c of contracts) {
    const reported = byCard.get(`${c.contractNumber}/${c.plasticId}`);
    const card = `contract ${c.contractNumber}`;
    if (!reported) {
      assert.equal(c.status, 'Invalid', `${card} is not in the report, so it must be Invalid`);
      assert.ok(c.reason, `${card} is Invalid with a reason`);
      assert.equal(c.batchFile, null, `${card} was never sent`);
      invalid++;
    } else if (reported.rejection) {
      assert.equal(c.status, 'Rejected', card);
      assert.equal(c.rejectCode, reported.rejection.Code, card);
      assert.match(c.reason ?? '', new RegExp(reported.rejection.Reason!), card);
    } else {
      const s = reported.shipment!;
      assert.equal(c.status, 'Shipped', card);
      assert.equal(c.expectedShipDate ?? '', s.ExpectedShipDate ?? '', card);
      assert.equal(c.shipDate ?? '', s.ShipDate ?? '', card);
      assert.equal(c.trackingNumber ?? '', s.TrackingNumber ?? '', card);
    }
    if (reported) assert.equal(c.batchFile, report.header.SourceFile, `${card} was in the reported file`);
  }
  assert.equal(invalid, outcome.generated.invalidOnPurpose, 'exactly the cards spoiled on purpose are Invalid');
  assert.equal(report.rejections.length + report.shipments.length, CARDS - invalid, 'the bureau answered every card sent');
  assert.ok(report.rejections.length > 0 && report.shipments.some((s) => s.ShipDate) && report.shipments.some((s) => !s.ShipDate));
}

describe('e2e: the demo exchange', function () {
  this.timeout(120_000);
  let base: string;
  before(() => (base = mkdtempSync(join(tmpdir(), 'bx-e2e-'))));
  after(() => rmSync(base, { recursive: true, force: true }));

  it('on the sandbox server: every card ends Invalid, Rejected or Shipped exactly as the report says', async function () {
    const steps: string[] = [];
    const outcome = await runDemo({ cards: CARDS, dir: join(base, 'in-process'), seed: 3, progress: (s) => steps.push(s) });
    assert.equal(outcome.ok, true, outcome.check.problems.join('\n'));
    assert.equal(steps.length, 6);
    assert.equal(outcome.imported.inserted, CARDS);
    assert.deepEqual(outcome.received.quarantined, []);
    await assertEveryCardMatchesTheReport(outcome, outcome.sandbox.sftpRoot);
  });

  for (const dialect of ['pg', 'mysql'] as const) {
    it(`on ${dialect === 'pg' ? 'PostgreSQL' : 'MariaDB'} too: the same exchange, the same outcome`, async function () {
      requireOrSkip(this, await databaseUnavailableReason(dialect));
      const database = await createTestDatabase(dialect);
      try {
        const outcome = await runDemo({ cards: CARDS, dir: join(base, dialect), seed: 3, database: database.database });
        assert.equal(outcome.ok, true, `${dialect}: ${outcome.check.problems.join('\n')}`);
        await assertEveryCardMatchesTheReport(outcome, outcome.sandbox.sftpRoot);
      } finally {
        await database.drop();
      }
    });
  }

  it('against a real OpenSSH sshd: the same exchange, the same outcome', async function () {
    requireSshd(this);
    const sshd: SshdServer = await startSshd();
    try {
      const outcome = await runDemo({
        cards: CARDS, dir: join(base, 'openssh'), seed: 3,
        server: { sftp: sshd.sftpConfig(), root: sshd.root },
      });
      assert.equal(outcome.ok, true, outcome.check.problems.join('\n'));
      assert.ok(existsSync(join(sshd.root, 'inbound', outcome.sent.batches[0]!.fileName)), 'the file went to OpenSSH');
      await assertEveryCardMatchesTheReport(outcome, sshd.root);
    } finally {
      await sshd.stop();
    }
  });

  it('as `bureau-exchange demo`: exit 0, a readable summary, and a file gpg decrypts to fixed-width records', async function () {
    requireGpg(this);
    const dir = join(base, 'cli');
    const result = await runCli(['demo', '--cards', '120', '--dir', dir]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    for (const expected of [/Sent +\d+ cards in 1 file/, /Invalid +\d+ not sent/, /Rejected +\d+ by the bureau/, /Shipped +\d+ shipped/,
      /Expected +\d+ to ship/, /Stock +CLASSIC01/, /Verified +1 report\(s\) verified: signed by the pinned bureau key/, /OK: all 120 cards/, /contracts list/, /status/]) {
      assert.match(result.stdout, expected);
    }
    assert.match(result.stderr, /\[6\/6\]/, 'progress lines');
    assert.doesNotMatch(result.stdout + result.stderr, /\b4000000\d{9}\b/, 'no full PAN printed');

    const home = mkdtempSync(join(tmpdir(), 'bx-gpg-'));
    try {
      execFileSync('gpg', ['--homedir', home, '--batch', '--import', join(dir, 'keys', K.bureauPgpSecret), join(dir, 'keys', K.issuerPgpPublic)], { stdio: 'pipe' });
      const [file] = readdirSync(join(dir, 'sftp', 'inbound'));
      const clear = execFileSync('gpg', ['--homedir', home, '--batch', '--status-fd', '2', '--decrypt', join(dir, 'sftp', 'inbound', file!)], { stdio: ['ignore', 'pipe', 'pipe'] }).toString('latin1');
      const records = clear.split('\n').slice(0, -1);
      const sent = Number(/Sent +(\d+) cards in 1 file/.exec(result.stdout)![1]);
      assert.equal(records.length, sent + 2, 'a header, one detail record per card sent, a trailer');
      assert.deepEqual(records.filter((r) => r.length !== 450), [], 'fixed-width 450-byte records');
      assert.equal(records[0]![0], 'H');
      assert.equal(records[records.length - 1]![0], 'T');
      assert.deepEqual(records.slice(1, -1).filter((r) => r[0] !== 'D'), [], 'only detail records between');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('refuses bad usage before doing anything: exit 2 with one clear line', async function () {
    const bad = await runCli(['demo', '--cards', '0']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--cards must be a whole number of at least 1/);
    const used = join(base, 'cli');
    const again = await runCli(['demo', '--dir', used]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /is not empty/);
    assert.doesNotMatch(again.stderr, /\[1\/6\]/);
  });
});
