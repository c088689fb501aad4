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
import { loadLayout } from '../../src/perso/layout.js';
import { parsePersoFile } from '../../src/perso/parse.js';
import { runCli } from '../helpers/cli.js';
import { requireOrSkip } from '../helpers/ci.js';
import { createTestDatabase, databaseUnavailableReason } from '../helpers/db.js';
import { requireGpg } from '../helpers/gpg.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { readSandboxReport, type ReadReport } from '../sandbox/helpers.js';

const CARDS = 300;

/**
 * Every card's final status against the report files as each bureau wrote them — decrypted and read
 * here independently of the demo's own check and of the receive job, which took each bureau's
 * report from its account and moved it to that account's processed/ folder.
 */
async function assertEveryCardMatchesTheReport(outcome: DemoOutcome): Promise<void> {
  const db = openDatabase(outcome.config);
  let contracts: ContractListing[];
  try {
    contracts = await listContracts(db, { limit: CARDS + 10 });
  } finally {
    await db.destroy();
  }
  assert.equal(contracts.length, CARDS);
  assert.deepEqual(outcome.bureaus.map((b) => b.code), ['BUREAU01', 'EMB01']);
  const byCard = new Map<string, { file: string; rejection?: Record<string, string>; shipment?: Record<string, string> }>();
  const reports: ReadReport[] = [];
  for (const bureau of outcome.bureaus) {
    assert.equal(bureau.answers.length, 1, `${bureau.code} received one file`);
    assert.deepEqual(bureau.notReceived, [], `${bureau.code}: its report was received`);
    const folder = join(bureau.sftpRoot, bureau.sftp.processedDir);
    const names = readdirSync(folder).filter((n) => n.includes('.xml.')).sort();
    assert.deepEqual(names.map((n) => n.replace(/^.*\.xml\./, '')), ['rsa', 'rsa.sig'], `${bureau.code}: one signed report in ${folder}`);
    const report = readSandboxReport(join(folder, names[0]!), outcome.sandbox.keysDir);
    assert.equal(report.header.Bureau, bureau.code, 'the report is the bureau\'s own');
    reports.push(report);
    const key = (r: Record<string, string>) => `${canonicalId(r.CardContractId!)}/${canonicalId(r.PlasticId!)}`;
    const file = report.header.SourceFile!;
    for (const r of report.rejections) byCard.set(key(r), { file, rejection: r });
    for (const s of report.shipments) byCard.set(key(s), { file, shipment: s });
  }

  let invalid = 0;
  for (const c of contracts) {
    const reported = byCard.get(`${c.contractNumber}/${c.plasticId}`);
    const card = `contract ${c.contractNumber}`;
    if (!reported) {
      assert.equal(c.status, 'Invalid', `${card} is not in a report, so it must be Invalid`);
      assert.ok(c.reason, `${card} is Invalid with a reason`);
      assert.equal(c.batchFile, null, `${card} was never sent`);
      invalid++;
      continue;
    }
    assert.equal(c.batchFile, reported.file, `${card} was in the reported file`);
    if (reported.rejection) {
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
  }
  assert.equal(invalid, outcome.generated.invalidOnPurpose, 'exactly the cards spoiled on purpose are Invalid');
  const answered = reports.reduce((sum, r) => sum + r.rejections.length + r.shipments.length, 0);
  assert.equal(answered, CARDS - invalid, 'the bureaus answered every card sent');
  for (const r of reports) assert.ok(r.shipments.length > 0, `${r.header.SourceFile}: the bureau answered`);
  const all = reports.flatMap((r) => [...r.rejections, ...r.shipments]);
  assert.ok(all.some((x) => x.Code) && all.some((x) => x.ShipDate) && all.some((x) => !x.Code && !x.ShipDate));
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
    await assertEveryCardMatchesTheReport(outcome);
  });

  for (const dialect of ['pg', 'mysql'] as const) {
    it(`on ${dialect === 'pg' ? 'PostgreSQL' : 'MariaDB'} too: the same exchange, the same outcome`, async function () {
      requireOrSkip(this, await databaseUnavailableReason(dialect));
      const database = await createTestDatabase(dialect);
      try {
        const outcome = await runDemo({ cards: CARDS, dir: join(base, dialect), seed: 3, database: database.database });
        assert.equal(outcome.ok, true, `${dialect}: ${outcome.check.problems.join('\n')}`);
        await assertEveryCardMatchesTheReport(outcome);
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
      await assertEveryCardMatchesTheReport(outcome);
    } finally {
      await sshd.stop();
    }
  });

  it('as `bureau-exchange demo`: exit 0, a readable summary, and each bureau\'s file decrypted with its key and read back in its format', async function () {
    requireGpg(this);
    const dir = join(base, 'cli');
    const result = await runCli(['demo', '--cards', '120', '--dir', dir]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    for (const expected of [/Sent +\d+ cards in 2 files?/, /BUREAU01 +perso-v1: \d+ cards in 1 file/, /EMB01 +emb-v1: \d+ cards in 1 file/,
      /Invalid +\d+ not sent/, /Rejected +\d+ by the bureaus/, /Shipped +\d+ shipped/,
      /Expected +\d+ to ship/, /Stock +CLASSIC01 [\d,]+, EMB01 GOLD01 [\d,]+, EMB01 PLATIN01/, /Verified +2 report\(s\) verified: signed by the pinned bureau key/, /OK: all 120 cards/, /contracts list/, /status/]) {
      assert.match(result.stdout, expected);
    }
    assert.match(result.stderr, /\[6\/6\]/, 'progress lines');
    assert.doesNotMatch(result.stdout + result.stderr, /\b4000000\d{9}\b/, 'no full PAN printed');
    const cardsOf = (code: string) => Number(new RegExp(`${code} +\\S+: (\\d+) cards`).exec(result.stdout)![1]);

    const home = mkdtempSync(join(tmpdir(), 'bx-gpg-'));
    const decrypt = (keysDir: string, folder: string) => {
      execFileSync('gpg', ['--homedir', home, '--batch', '--import', join(keysDir, K.bureauPgpSecret), join(dir, 'keys', K.issuerPgpPublic)], { stdio: 'pipe' });
      const [file] = readdirSync(folder);
      return execFileSync('gpg', ['--homedir', home, '--batch', '--status-fd', '2', '--decrypt', join(folder, file!)], { stdio: ['ignore', 'pipe', 'pipe'] }).toString('latin1');
    };
    try {
      const clear = decrypt(join(dir, 'keys'), join(dir, 'sftp', 'inbound'));
      const records = clear.split('\n').slice(0, -1);
      assert.equal(records.length, cardsOf('BUREAU01') + 2, 'a header, one detail record per card sent, a trailer');
      assert.deepEqual(records.filter((r) => r.length !== 450), [], 'fixed-width 450-byte records');
      assert.equal(records[0]![0], 'H');
      assert.equal(records[records.length - 1]![0], 'T');
      assert.deepEqual(records.slice(1, -1).filter((r) => r[0] !== 'D'), [], 'only detail records between');

      // the second bureau's file: its own key opens it, and the strict reader reads it in emb-v1 (CRLF, 300 bytes, types 01/02/09)
      const emb = decrypt(join(dir, 'keys', 'EMB01'), join(dir, 'bureaus', 'EMB01', 'sftp', 'in'));
      const read = await parsePersoFile(loadLayout('emb-v1'), [emb], 'CRLF');
      assert.deepEqual(read.map((r) => r.type), ['header', ...Array<string>(cardsOf('EMB01')).fill('detail'), 'trailer']);
      const products = new Set(read.filter((r) => r.type === 'detail').map((r) => r.fields.productCode));
      assert.deepEqual([...products].filter((p) => !['GOLD01', 'PLATIN01'].includes(p!)), [], 'only premium cards went to EMB01');
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
