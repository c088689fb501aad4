import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OpenMode, SFTPWrapper } from 'ssh2';
import Client from 'ssh2-sftp-client';
import { generateSshKeyPair } from '../../src/sandbox/keys.js';
import { MAX_FILE_BYTES } from '../../src/sandbox/sftp-handlers.js';
import { startSftpServer, type RunningSftpServer } from '../../src/sandbox/sftp-server.js';

/**
 * A client that writes without end: one WRITE at a far offset (a sparse file of terabytes, which
 * the simulator then reads), or appends past what the sandbox takes. Refused, nothing written.
 */
describe('sandbox SFTP server: the size of what a client writes', function () {
  this.timeout(30_000);
  const clientKey = generateSshKeyPair();
  const hostKey = generateSshKeyPair();
  let base: string;
  let server: RunningSftpServer;
  let client: Client;
  let raw: SFTPWrapper;

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'bx-sftp-limits-'));
    mkdirSync(join(base, 'inbound'));
    server = await startSftpServer({ root: base, hostKey: hostKey.private, authorizedKeys: [clientKey.public] });
    client = new Client();
    await client.connect({ host: server.host, port: server.port, username: 'bx', privateKey: clientKey.private });
    raw = (client as unknown as { sftp: SFTPWrapper }).sftp;
  });
  after(async () => {
    await client?.end();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  const open = (path: string, flags: OpenMode) => new Promise<Buffer>((resolve, reject) => raw.open(path, flags, (err, h) => (err ? reject(err) : resolve(h))));
  const write = (h: Buffer, data: Buffer, offset: number) => new Promise<void>((resolve, reject) => raw.write(h, data, 0, data.length, offset, (err) => (err ? reject(err) : resolve())));
  const close = (h: Buffer) => new Promise<void>((resolve, reject) => raw.close(h, (err) => (err ? reject(err) : resolve())));

  for (const offset of [MAX_FILE_BYTES - 10, 2 ** 40, Number.MAX_SAFE_INTEGER - 5]) {
    it(`a WRITE ending past ${MAX_FILE_BYTES} bytes (offset ${offset}): refused, no sparse file`, async function () {
      const h = await open('/inbound/far.dat', 'w');
      try {
        await assert.rejects(write(h, Buffer.alloc(100, 1), offset), /too large/);
        await write(h, Buffer.from('still served'), 0);
      } finally {
        await close(h);
      }
      assert.equal(statSync(join(base, 'inbound', 'far.dat')).size, 12);
    });
  }

  it('an append past the limit: refused, the file as it was', async function () {
    const local = join(base, 'inbound', 'full.dat');
    writeFileSync(local, '');
    truncateSync(local, MAX_FILE_BYTES - 1); // sparse: takes no room
    const h = await open('/inbound/full.dat', 'a');
    try {
      await write(h, Buffer.from('x'), 0);
      await assert.rejects(write(h, Buffer.from('y'), 0), /too large/);
    } finally {
      await close(h);
    }
    assert.equal(statSync(local).size, MAX_FILE_BYTES);
    rmSync(local);
  });
});
