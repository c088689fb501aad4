import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { ConfigError, PermanentError, TransientError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { withSession, type RemoteSession } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { requireSshd, startSshd, userIds, type SshdServer } from '../helpers/sshd.js';
import { requireOrSkip } from '../helpers/ci.js';

describe('transport/sftp against a real OpenSSH sshd', function () {
  let server: SshdServer;
  let local: string;

  before(async function () {
    requireSshd(this);
    server = await startSshd();
    local = mkdtempSync(join(tmpdir(), 'bx-sftp-'));
  });
  after(async function () {
    await server?.stop();
    if (local) rmSync(local, { recursive: true, force: true });
  });

  const transport = (overrides = {}) => makeSftpTransport(server.sftpConfig(overrides), { log: silentLogger });
  const remoteFile = (path: string) => join(server.root, path);

  it('uploads atomically from a stream: final name only, mode 0600, exact content', async function () {
    const content = randomBytes(300_000);
    await withSession(transport(), (s) => s.uploadAtomic(Readable.from([content.subarray(0, 1000), content.subarray(1000)]), '/inbound', 'A_PERSO_1.dat.pgp', content.length));
    assert.deepEqual(readdirSync(remoteFile('inbound')).filter((n) => n.startsWith('A_')), ['A_PERSO_1.dat.pgp']);
    assert.ok(readFileSync(remoteFile('inbound/A_PERSO_1.dat.pgp')).equals(content));
    assert.equal(statSync(remoteFile('inbound/A_PERSO_1.dat.pgp')).mode & 0o777, 0o600);
  });

  it('uploads a local file by path and removes a stale .part first', async function () {
    const file = join(local, 'b.pgp');
    writeFileSync(file, 'new content');
    writeFileSync(remoteFile('inbound/B.pgp.part'), 'stale partial upload from a crash');
    chownSync(remoteFile('inbound/B.pgp.part'), userIds('nobody').uid, userIds('nobody').gid);
    await withSession(transport(), (s) => s.uploadAtomic(file, '/inbound', 'B.pgp', 11));
    assert.equal(readFileSync(remoteFile('inbound/B.pgp'), 'utf8'), 'new content');
    assert.equal(existsSync(remoteFile('inbound/B.pgp.part')), false);
  });

  it('never overwrites an existing final name', async function () {
    writeFileSync(remoteFile('inbound/C.pgp'), 'already delivered');
    const source = Readable.from([Buffer.from('other')]);
    await assert.rejects(
      withSession(transport(), (s) => s.uploadAtomic(source, '/inbound', 'C.pgp', 5)),
      (err: Error) => err instanceof PermanentError && /C\.pgp on 127\.0\.0\.1:\d+ already exists/.test(err.message),
    );
    assert.equal(readFileSync(remoteFile('inbound/C.pgp'), 'utf8'), 'already delivered');
    assert.ok(source.destroyed, 'the unread source is destroyed, not left hanging');
  });

  it('refuses to rename when the uploaded size differs from the expected one', async function () {
    await assert.rejects(
      withSession(transport(), (s) => s.uploadAtomic(Readable.from([Buffer.from('12345')]), '/inbound', 'D.pgp', 6)),
      /D\.pgp\.part on .* is 5 bytes after upload, expected 6: not renamed/,
    );
    assert.equal(existsSync(remoteFile('inbound/D.pgp')), false);
  });

  it('refuses a file name that is not a single path segment', async function () {
    await assert.rejects(withSession(transport(), (s) => s.uploadAtomic(Readable.from([]), '/inbound', '../x', 0)), /invalid remote file name/);
  });

  it('lists, stats, downloads, moves (creating the folder) and removes', async function () {
    writeFileSync(remoteFile('outbound/R1.xml.pgp'), 'report one');
    await withSession(transport(), async (s) => {
      const listed = await s.list('/outbound');
      const r1 = listed.find((e) => e.name === 'R1.xml.pgp');
      assert.equal(r1?.type, 'file');
      assert.equal(r1?.size, 10);
      assert.ok(r1!.modifiedAt instanceof Date && Math.abs(r1!.modifiedAt.getTime() - Date.now()) < 60_000);
      assert.equal((await s.stat('/outbound/R1.xml.pgp'))?.size, 10);
      assert.equal((await s.stat('/outbound'))?.type, 'dir');
      assert.equal(await s.stat('/outbound/missing'), null);
      const sink = collect();
      assert.equal(await s.download('/outbound/R1.xml.pgp', sink.stream), 10);
      assert.equal(sink.text(), 'report one');
      await s.move('/outbound/R1.xml.pgp', '/outbound/processed/2026/R1.xml.pgp');
      assert.equal(await s.stat('/outbound/R1.xml.pgp'), null);
      assert.equal((await s.stat('/outbound/processed/2026/R1.xml.pgp'))?.size, 10);
      await s.remove('/outbound/processed/2026/R1.xml.pgp');
      await s.remove('/outbound/processed/2026/R1.xml.pgp');
      assert.equal(await s.stat('/outbound/processed/2026/R1.xml.pgp'), null);
    });
  });

  it('refuses a wrong host key before sending anything', async function () {
    const wrong = 'SHA256:' + randomBytes(32).toString('base64').replace(/=+$/, '');
    const lines: string[] = [];
    const log = createLogger({ destination: new Writable({ write: (c, _e, done) => { lines.push(c.toString()); done(); } }) });
    const t = makeSftpTransport(server.sftpConfig({ hostKeySha256: wrong }), { log });
    await assert.rejects(t.connect(), (err: Error) =>
      err instanceof PermanentError && err.message.includes(`host key ${server.hostKeySha256} of 127.0.0.1:${server.port} does not match the pinned ${wrong}`));
    assert.equal(lines.filter((l) => /retrying/.test(l)).length, 0, 'a wrong host key is not retried');
  });

  it('leaves no connection open after a session, a refused host key or a failed authentication', async function () {
    await withSession(transport(), async (s) => {
      await s.list('/inbound');
      assert.ok(server.openConnections() >= 1, 'the session is seen by the server');
    });
    await assert.rejects(transport({ hostKeySha256: 'SHA256:' + 'B'.repeat(43) }).connect(), PermanentError);
    const strangerKey = join(local, 'stranger_key');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKey]);
    await assert.rejects(transport({ privateKeyFile: strangerKey }).connect(), /authentication of nobody/);
    await waitFor(() => server.openConnections() === 0);
  });

  it('requires a pinned host key (ConfigError, no connection)', async function () {
    await assert.rejects(transport({ hostKeySha256: undefined }).connect(), (err: Error) => err instanceof ConfigError && /sftp\.hostKeySha256 is required/.test(err.message));
  });

  it('retries an unreachable port with backoff, then fails with a clear transient error', async function () {
    const started = Date.now();
    await assert.rejects(
      transport({ port: 1, retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } }).connect(),
      (err: Error) => err instanceof TransientError && /SFTP connection to 127\.0\.0\.1:1 failed after 3 attempts: .*(refused|ECONNREFUSED)/i.test(err.message),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 5000, `two backoff waits (50–100 ms, then 100–200 ms), took ${elapsed} ms`);
  });

  it('times out a server that accepts TCP but never speaks SSH, retrying it as transient', async function () {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const mute = createServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const port = (mute.address() as { port: number }).port;
    let accepted = 0;
    mute.on('connection', () => accepted++);
    try {
      await assert.rejects(
        transport({ port, readyTimeoutMs: 1000, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 } }).connect(),
        (err: Error) => err instanceof TransientError && /failed after 2 attempts: .*handshake/i.test(err.message),
      );
      assert.equal(accepted, 2);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((resolve) => mute.close(resolve));
    }
  });

  it('refuses a wrong client key as a permanent authentication error', async function () {
    const otherKey = join(local, 'other_key');
    const { execFileSync } = await import('node:child_process');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
    await assert.rejects(transport({ privateKeyFile: otherKey }).connect(), (err: Error) => err instanceof PermanentError && /authentication of nobody/.test(err.message));
  });

  it('refuses an SFTP private key file readable by group/other, like OpenSSH', async function () {
    const loose = join(local, 'loose_key');
    writeFileSync(loose, readFileSync(server.privateKeyFile), { mode: 0o644 });
    chmodSync(loose, 0o644);
    await assert.rejects(transport({ privateKeyFile: loose }).connect(), (err: Error) => err instanceof ConfigError && /loose_key is readable by group\/other/.test(err.message));
  });

  it('refuses a passphrase-protected client key without its passphrase as a config error', async function () {
    const locked = join(local, 'locked_key');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'client-key-passphrase', '-f', locked]);
    await assert.rejects(transport({ privateKeyFile: locked, privateKeyPassphraseEnv: 'BX_TEST_UNSET_PASSPHRASE' }).connect(),
      (err: Error) => err instanceof ConfigError && /locked_key: .*passphrase/i.test(err.message));
    const withPassphrase = makeSftpTransport(server.sftpConfig({ privateKeyFile: locked, privateKeyPassphraseEnv: 'BX_TEST_KEY_PASS' }),
      { log: silentLogger, env: { BX_TEST_KEY_PASS: 'client-key-passphrase' } });
    // the right passphrase unlocks it; the server then refuses the unknown key
    await assert.rejects(withPassphrase.connect(), (err: Error) => err instanceof PermanentError && /authentication of nobody/.test(err.message));
  });

  it('reports a read-only remote folder as a permanent permission error', async function () {
    mkdirSync(remoteFile('readonly'), { mode: 0o755 });
    await assert.rejects(
      withSession(transport(), (s) => s.uploadAtomic(Readable.from([Buffer.from('x')]), '/readonly', 'E.pgp', 1)),
      (err: Error) => err instanceof PermanentError && /readonly\/E\.pgp\.part on .*: permission denied/.test(err.message),
    );
    await assert.rejects(
      withSession(transport(), (s) => s.uploadAtomic(Readable.from([Buffer.from('x')]), '/no-such-folder', 'E.pgp', 1)),
      (err: Error) => err instanceof PermanentError && /no such file or folder/.test(err.message),
    );
  });

  it('reports a full remote disk as a permanent error, without a final name', async function () {
    const full = remoteFile('full');
    mkdirSync(full);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', full]);
    requireOrSkip(this, mount.status === 0 ? null : `mounting a small tmpfs to simulate a full disk failed: ${String(mount.stderr).trim()}`);
    try {
      chownSync(full, userIds('nobody').uid, userIds('nobody').gid);
      const content = randomBytes(1024 * 1024);
      await assert.rejects(
        withSession(transport(), (s) => s.uploadAtomic(Readable.from([content]), '/full', 'H.pgp', content.length)),
        (err: Error) => err instanceof PermanentError && /full\/H\.pgp\.part on .* is \d+ bytes after upload, expected 1048576: not renamed \(.*disk full/.test(err.message),
      );
      assert.deepEqual(readdirSync(full), ['H.pgp.part'], 'only the short .part, never the final name');
    } finally {
      spawnSync('umount', [full]);
    }
  });

  it('a connection killed mid-upload leaves at most the .part, never the final name', async function () {
    const source = new PassThrough();
    const session = await transport().connect();
    const upload = session.uploadAtomic(source, '/inbound', 'F.pgp', 10_000_000);
    source.write(randomBytes(200_000));
    await waitFor(() => existsSync(remoteFile('inbound/F.pgp.part')) && statSync(remoteFile('inbound/F.pgp.part')).size > 0);
    server.killSessions();
    source.write(randomBytes(200_000));
    await assert.rejects(upload, (err: Error) => err instanceof TransientError && /F\.pgp\.part on .*connection was lost/.test(err.message));
    await session.close();
    assert.equal(existsSync(remoteFile('inbound/F.pgp')), false);
    assert.ok(existsSync(remoteFile('inbound/F.pgp.part')));
    // the next run removes the stale .part and completes
    const content = randomBytes(1000);
    await withSession(transport(), (s) => s.uploadAtomic(Readable.from([content]), '/inbound', 'F.pgp', content.length));
    assert.ok(readFileSync(remoteFile('inbound/F.pgp')).equals(content));
    assert.equal(existsSync(remoteFile('inbound/F.pgp.part')), false);
  });

  it('a failing source stream aborts the upload without a final name', async function () {
    for (const delayMs of [0, 20, 100]) {
      await assert.rejects(
        withSession(transport(), (s) => {
          const source = new Readable({ read() {} });
          source.push(randomBytes(1000));
          setTimeout(() => source.destroy(new Error('encryption failed')), delayMs);
          return s.uploadAtomic(source, '/inbound', 'G.pgp', 2000);
        }),
        /encryption failed/,
      );
    }
    assert.equal(existsSync(remoteFile('inbound/G.pgp')), false);
  });

  it('close() returns within its timeout when the server stopped answering', async function () {
    const session = await makeSftpTransport(server.sftpConfig(), { log: silentLogger, closeTimeoutMs: 300 }).connect();
    server.signalSessions('SIGSTOP');
    try {
      const started = Date.now();
      await session.close();
      assert.ok(Date.now() - started < 2000, `closed in ${Date.now() - started} ms`);
    } finally {
      server.signalSessions('SIGCONT');
      server.killSessions();
    }
  });

  it('close() is idempotent and a closed session is not reused', async function () {
    const session: RemoteSession = await transport().connect();
    await session.close();
    await session.close();
    await assert.rejects(session.list('/inbound'), /session to .* is closed/);
  });
});

function collect(): { stream: Writable; text(): string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({ write: (c, _e, done) => { chunks.push(c); done(); } }),
    text: () => Buffer.concat(chunks).toString(),
  };
}

async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
