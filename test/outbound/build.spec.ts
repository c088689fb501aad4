import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer as bytesOf } from 'node:stream/consumers';
import { batchContracts } from '../../src/db/batches.js';
import { claimBatch } from '../../src/outbound/claim-step.js';
import type { ContractForPerso } from '../../src/domain/contract.js';
import { buildEncryptedFile } from '../../src/outbound/build.js';
import { PanCipher } from '../../src/security/pan.js';
import { describeEachDatabase, newPanKey } from '../helpers/db.js';
import { clearSendTables, insertCards, markedContracts, screenWith } from './fixtures.js';
import { contractIdsOf, decryptedRecords, fileMaker, filesIn, makeBureauKeys, removeDir, sendConfig, type BureauKeys } from './harness.js';

const cipher = new PanCipher(newPanKey());

describeEachDatabase('build the encrypted file of a batch', (ctx) => {
  let keys: BureauKeys;
  before(() => { keys = makeBureauKeys(); });
  after(() => keys.gpg.cleanup());
  beforeEach(async () => clearSendTables(ctx().db));

  it('renders the batch in record order, encrypts for the bureau (gpg reads it), records hashes; no clear bytes on disk', async () => {
    const { db } = ctx();
    const config = sendConfig(keys);
    const maker = await fileMaker(config);
    await insertCards(db, cipher, 1, 5);
    const { batch } = await claimBatch(db, {
      businessDate: '2026-11-26', maxCards: 100, fileName: (s) => maker.fileName('2026-11-26', s),
      screen: screenWith(cipher, (c) => maker.validate(c, '2026-11-26')), now: '2026-11-26T09:00:00.000Z',
    });
    const outbox = join(config.workDir, 'outbox');
    const build = () => buildEncryptedFile({
      maker, fileName: batch!.fileName, outbox,
      rendered: maker.render({ businessDate: '2026-11-26', sequence: 1, createdAt: new Date(batch!.createdAt) }, batchContracts(db, batch!.id, cipher)),
    });
    const file = await build();
    assert.equal(batch!.fileName, 'BXISSUER_PERSO_20261126_000001.dat.pgp');
    assert.deepEqual(filesIn(outbox), [batch!.fileName], 'only the final encrypted file, no .tmp left');
    const encrypted = readFileSync(file.outboxPath);
    assert.equal(file.encSize, encrypted.length);
    assert.equal(file.encSha256, createHash('sha256').update(encrypted).digest('hex'));
    assert.ok(!encrypted.includes(Buffer.from('PERSOREQ')), 'the outbox file is not clear text');
    const lines = decryptedRecords(keys, file.outboxPath);
    const clear = Buffer.from(lines.map((l) => l + '\n').join(''), 'latin1');
    assert.equal(file.clearSize, clear.length);
    assert.equal(file.clearSha256, createHash('sha256').update(clear).digest('hex'));
    assert.equal(lines.length, 7);
    assert.match(lines[0]!, /^HPERSOREQBXISSUERBUREAU0120261126\d{6}000001001T/);
    assert.deepEqual(contractIdsOf(lines), ['1001', '1002', '1003', '1004', '1005']);
    assert.deepEqual([file.recordCount, file.hashTotal], [5, String(1001 + 1002 + 1003 + 1004 + 1005)]);
    const again = await build();
    assert.equal(again.clearSha256, file.clearSha256, 'a re-render yields the same clear bytes');
    removeDir(config.workDir);
  });

  it('renders the cards the claim prepared byte for byte as it renders their contracts (LF and CRLF)', async () => {
    const { db } = ctx();
    await insertCards(db, cipher, 1, 40, (n) => ({
      ...(n % 3 === 0 ? { firstName: 'Zoë', lastName: 'Ñúñez-O\'Brien' } : {}),
      ...(n % 4 === 0 ? { addressLine2: '' } : {}),
      ...(n % 5 === 0 ? { embossedName: 'MR J SMITH' } : {}),
    }));
    for (const lineEnding of ['LF', 'CRLF'] as const) {
      const base = sendConfig(keys);
      const maker = await fileMaker({ ...base, perso: { ...base.perso, lineEnding } });
      const contracts = await markedContracts(db, cipher);
      const cards = contracts.map((c) => {
        const verdict = maker.validate(c, '2026-11-26');
        assert.ok(verdict.ok, 'every fixture card is valid');
        return verdict.card;
      });
      const identity = { businessDate: '2026-11-26', sequence: 7, createdAt: new Date('2026-11-26T08:09:10.000Z') };
      const fromContracts = maker.render(identity, iterate(contracts));
      const fromPrepared = maker.renderPrepared(identity, iterate(cards));
      const [a, b] = await Promise.all([bytesOf(fromContracts.clear), bytesOf(fromPrepared.clear)]);
      assert.equal(a.length, (contracts.length + 2) * (450 + (lineEnding === 'CRLF' ? 2 : 1)));
      assert.ok(a.equals(b), `the same clear bytes (${lineEnding})`);
      assert.deepEqual(fromPrepared.totals(), fromContracts.totals());
      removeDir(base.workDir);
    }
  });

  it('a failure in the middle leaves no file in the outbox', async () => {
    const { db } = ctx();
    const config = sendConfig(keys);
    const maker = await fileMaker(config);
    await insertCards(db, cipher, 1, 3);
    const outbox = join(config.workDir, 'outbox');
    await assert.rejects(buildEncryptedFile({
      maker, fileName: 'X.dat.pgp', outbox,
      rendered: maker.render({ businessDate: '2026-11-26', sequence: 1, createdAt: new Date() }, batchContracts(db, 999, cipher)),
      onFirstBytes: () => { throw new Error('injected'); },
    }), /injected/);
    assert.deepEqual(filesIn(outbox), []);
    removeDir(config.workDir);
  });
});

async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}
