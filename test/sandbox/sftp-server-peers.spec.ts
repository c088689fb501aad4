import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Client from 'ssh2-sftp-client';
import { generateSshKeyPair } from '../../src/sandbox/keys.js';
import { startSftpServer, type RunningSftpServer } from '../../src/sandbox/sftp-server.js';

/**
 * Peers that do not play along: a bare TCP connection (a port probe, a stuck client) that never
 * logs in and never closes its side, and many of them at once. Before: close() waited for each to
 * close for ever, so `sandbox serve` did not stop on SIGTERM and a test's server stayed up.
 */
describe('sandbox SFTP server with peers that never log in or never close', function () {
  this.timeout(30_000);
  const clientKey = generateSshKeyPair();
  const hostKey = generateSshKeyPair();
  let base: string;
  const open: Socket[] = [];

  before(() => {
    base = mkdtempSync(join(tmpdir(), 'bx-sftp-peers-'));
    mkdirSync(join(base, 'inbound'));
  });
  after(() => {
    for (const s of open) s.destroy();
    rmSync(base, { recursive: true, force: true });
  });

  const start = (loginGraceMs?: number) => startSftpServer({ root: base, hostKey: hostKey.private, authorizedKeys: [clientKey.public], loginGraceMs });
  /** a TCP peer that reads what the server sends, never answers and never closes its side */
  const silentPeer = async (server: RunningSftpServer) => {
    const socket = connect({ port: server.port, host: server.host, allowHalfOpen: true });
    open.push(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    return socket;
  };
  /** the server cut the peer: its side ended (the peer keeps its own half open, as a stuck one would) */
  const cut = (socket: Socket) => new Promise<void>((resolve) => {
    if (socket.readableEnded || socket.destroyed) return resolve();
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });

  it('close() ends within a few seconds although a peer never closes its side', async function () {
    const server = await start();
    const peer = await silentPeer(server);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const closed = await Promise.race([server.close().then(() => true), new Promise((r) => setTimeout(() => r(false), 8_000))]);
    assert.equal(closed, true, 'close() still pending after 8 s');
    assert.ok(Date.now() - started < 5_000);
    await cut(peer);
  });

  it('cuts a connection that has not logged in by the grace time, and not a client that has', async function () {
    const server = await start(500);
    try {
      const peer = await silentPeer(server);
      const sftp = new Client();
      await sftp.connect({ host: server.host, port: server.port, username: 'bx', privateKey: clientKey.private, readyTimeout: 5000 });
      try {
        const started = Date.now();
        await cut(peer);
        assert.ok(Date.now() - started < 5_000);
        await new Promise((r) => setTimeout(r, 700));
        assert.deepEqual((await sftp.list('/')).map((e) => e.name), ['inbound'], 'the logged-in client is still served');
      } finally {
        await sftp.end();
      }
    } finally {
      await server.close();
    }
  });

  it('many idle connections at once: the ones past its limit are refused, a client logs in once they are gone', async function () {
    const server = await start(60_000);
    try {
      const peers = await Promise.all(Array.from({ length: 100 }, () => silentPeer(server)));
      const closedByServer = await Promise.all(peers.map((p) => Promise.race([cut(p).then(() => 1), new Promise<number>((r) => setTimeout(() => r(0), 1500))])));
      assert.ok(closedByServer.reduce((a, b) => a + b, 0) >= 30, 'connections past the limit are dropped');
      for (const p of peers) p.destroy();
      await new Promise((r) => setTimeout(r, 200));
      const sftp = new Client();
      await sftp.connect({ host: server.host, port: server.port, username: 'bx', privateKey: clientKey.private, readyTimeout: 5000 });
      await sftp.end();
    } finally {
      await server.close();
    }
  });
});
