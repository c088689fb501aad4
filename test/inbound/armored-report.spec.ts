import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db } from '../../src/db/connection.js';
import { describeEachDatabase } from '../helpers/db.js';
import { header, reportName, shipment, xmlOf } from './fixtures.js';
import { startReceiveBench, type ReceiveBench } from './harness.js';
import { contractOf, seedBatch } from './seed.js';

/**
 * A `.pgp` report may be ASCII-armored (decryptToFile reads both): base64 and its line breaks make
 * it about 1.35 times its clear text, more than the 1.2 of RSA-OAEP. A report within
 * reports.maxClearBytes must not be taken for one too large to be a report and quarantined unread.
 */
describeEachDatabase('inbound/receive-job: an armored .pgp report near reports.maxClearBytes', (ctx) => {
  let bench: ReceiveBench;
  let db: Db;
  let workDir: string;
  before(async function () {
    this.timeout(60_000);
    bench = await startReceiveBench(this);
    db = ctx().db;
    workDir = mkdtempSync(join(tmpdir(), 'bx-armored-work-'));
  });
  after(async () => {
    await bench?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('is downloaded and applied, not quarantined unread', async function () {
    this.timeout(120_000);
    const maxClearBytes = 16 << 20;
    const batch = await seedBatch(db, [60_001]);
    const xml = xmlOf({ header: header(batch.fileName), shipments: [shipment(60_001, { shipped: '2026-11-26', sequence: 1 })] });
    // comments between the elements bring the clear text to 97% of the limit
    const padding = Array.from({ length: Math.floor((maxClearBytes * 0.97 - xml.length) / 60_010) }, () => `<!--${'p'.repeat(60_000)}-->\n`).join('');
    const clear = Buffer.from(xml.replace('  <Stock>', `${padding}  <Stock>`));
    assert.ok(clear.length <= maxClearBytes && clear.length > maxClearBytes * 0.9);
    const name = reportName('pgp');
    bench.bureau.put(name, bench.gpg.gpgEncrypt(clear, bench.pgpPublicFile, { armor: true }));
    const result = await bench.run(db, bench.config(workDir, { maxClearBytes }));
    assert.deepEqual(result.quarantined, []);
    assert.deepEqual(result.applied.map((r) => r.remoteName), [name]);
    assert.equal((await contractOf(db, 60_001)).production_status, 'Shipped');
  });
});
