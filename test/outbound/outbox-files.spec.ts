import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleTemporaries, sendFolders } from '../../src/outbound/files.js';

describe('outbox: half-written files of an interrupted run', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'bx-outbox-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a .tmp gone between the listing and its removal is no error (a runner frozen past its lease removed its own as it woke)', async () => {
    const folders = sendFolders(dir);
    mkdirSync(folders.outbox);
    for (let i = 0; i < 200; i++) writeFileSync(join(folders.outbox, `BXISSUER_PERSO_20261126_${String(i).padStart(6, '0')}.dat.pgp.tmp`), 'x');
    writeFileSync(join(folders.outbox, 'BXISSUER_PERSO_20261126_000999.dat.pgp'), 'kept');
    // both list every file before either removes one: the second meets files the first removed
    const [first, second] = await Promise.all([removeStaleTemporaries(folders), removeStaleTemporaries(folders)]);
    assert.equal(first.length, 200);
    assert.equal(second.length, 200);
    assert.deepEqual(readdirSync(folders.outbox), ['BXISSUER_PERSO_20261126_000999.dat.pgp']);
  });
});
