import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { reportFolders } from '../../src/inbound/local-files.js';
import { testConfig } from '../helpers/config.js';

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** What rests on disk is the owner's only, whatever the umask the program was started with. */
describe('files at rest under a permissive umask (000)', () => {
  let dir: string;
  let umask: number;
  beforeEach(() => {
    umask = process.umask(0o000);
    dir = mkdtempSync(join(tmpdir(), 'bx-modes-'));
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the SQLite database, its -wal and -shm are 0600, the folders created for it 0700', async () => {
    const filename = join(dir, 'var', 'db', 'bureau-exchange.sqlite');
    const config = testConfig({ database: { client: 'sqlite', filename } });
    const db = openDatabase(config);
    try {
      await migrateLatest(db);
      for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) assert.equal(modeOf(file), '600', file);
      assert.equal(modeOf(join(dir, 'var', 'db')), '700');
      assert.equal(modeOf(join(dir, 'var')), '700');
    } finally {
      await db.destroy();
    }
  });

  it('a database file left open to others (an older version) is made 0600 at the next open', async () => {
    const filename = join(dir, 'old.sqlite');
    writeFileSync(filename, '');
    chmodSync(filename, 0o644);
    const db = openDatabase(testConfig({ database: { client: 'sqlite', filename } }));
    try {
      await migrateLatest(db);
      assert.equal(modeOf(filename), '600');
      assert.equal(modeOf(`${filename}-wal`), '600');
    } finally {
      await db.destroy();
    }
  });

  it('the receive job\'s work folders are 0700', () => {
    const workDir = join(dir, 'work');
    const folders = reportFolders(workDir);
    for (const folder of [workDir, join(workDir, 'archive'), ...Object.values(folders)]) assert.equal(modeOf(folder), '700', folder);
  });
});
