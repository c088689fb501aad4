import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { TransientError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { freeLoopbackPort } from '../../src/sandbox/init.js';
import type { RemoteSession } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { waitFor } from '../helpers/wait.js';

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

/** Pids of the processes below `pid` whose command is `name`, read from /proc. */
function descendants(pid: number, name: string): number[] {
  const children = new Map<number, number[]>();
  const comm = new Map<number, string>();
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      comm.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close));
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (p: number) => (children.get(p) ?? []).forEach((c) => (comm.get(c) === name && found.push(c), walk(c)));
  walk(pid);
  return found;
}

/**
 * The server of most bureaus: OpenSSH with its default `Subsystem sftp sftp-server`, a process of its
 * own. When that process hangs (a stuck disk, NFS), sshd goes on answering keepalives: only an
 * unanswered SFTP request tells. SIGSTOP of the sftp-server process is that hang.
 */
describe('transport/sftp against a server whose SFTP process hangs while SSH still answers', function () {
  let server: SshdServer;
  let sshd: ChildProcess | undefined;
  let mute: ChildProcess | undefined;
  let port: number;
  let mutePort: number;
  let inbound: string;
  const session = (stallTimeoutMs: number): Promise<RemoteSession> =>
    makeSftpTransport(server.sftpConfig({ port, username: 'root', keepaliveIntervalMs: 200 }), { log: silentLogger, stallTimeoutMs }).connect();
  const sftpServers = () => descendants(sshd!.pid!, 'sftp-server');
  const signalSftpServers = (signal: NodeJS.Signals) => sftpServers().forEach((pid) => process.kill(pid, signal));

  before(async function () {
    requireSshd(this);
    if (!existsSync(SFTP_SERVER)) this.skip();
    server = await startSshd();
    const dir = dirname(server.root);
    inbound = join(server.root, 'inbound');
    ({ child: sshd, port } = await startRootSshd(dir, 'stall', SFTP_SERVER));
    // one whose SFTP subsystem never starts: it never sends the SFTP version
    ({ child: mute, port: mutePort } = await startRootSshd(dir, 'mute', '/bin/sleep 3600'));
  });
  afterEach(() => {
    signalSftpServers('SIGKILL');
    if (mute) descendants(mute.pid!, 'sleep').forEach((pid) => process.kill(pid, 'SIGKILL'));
  });
  after(async function () {
    for (const child of [sshd, mute]) {
      if (!child || child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await server?.stop();
  });

  it('fails an upload whose server stops answering mid-transfer as transient, within the stall timeout, without a final name', async function () {
    const s = await session(2000);
    const source = new PassThrough();
    const upload = s.uploadAtomic(source, inbound, 'STALL_1.pgp', 8_000_000);
    upload.catch(() => undefined);
    source.write(randomBytes(200_000));
    await waitFor('the .part on the server', () => existsSync(join(inbound, 'STALL_1.pgp.part')) && statSync(join(inbound, 'STALL_1.pgp.part')).size > 0);
    signalSftpServers('SIGSTOP');
    source.end(randomBytes(7_800_000));
    await assert.rejects(withinMs(upload, 20_000), (err: Error) =>
      err instanceof TransientError && /STALL_1\.pgp\.part on 127\.0\.0\.1:\d+: the server did not answer for 2 s: connection dropped$/.test(err.message));
    assert.ok(source.destroyed, 'the source is not left hanging');
    await withinMs(s.close(), 10_000);
    assert.equal(existsSync(join(inbound, 'STALL_1.pgp')), false);
  });

  it('fails a rename the server never answers as transient', async function () {
    const s = await session(2000);
    const content = randomBytes(1000);
    await s.uploadPart(Readable.from([content]), inbound, 'STALL_2.pgp');
    signalSftpServers('SIGSTOP');
    await assert.rejects(withinMs(s.renamePart(inbound, 'STALL_2.pgp', content.length), 20_000), (err: Error) =>
      err instanceof TransientError && /the server did not answer for 2 s: connection dropped$/.test(err.message));
    await withinMs(s.close(), 10_000);
  });

  it('a source that pauses longer than the stall timeout is no stall: the server answers meanwhile', async function () {
    const s = await session(2000);
    try {
      const content = randomBytes(300_000);
      const source = new PassThrough();
      const upload = s.uploadAtomic(source, inbound, 'SLOW_3.pgp', content.length);
      source.write(content.subarray(0, 1000));
      // an encryption that is slow to produce its next bytes (a claim still running, as in an early upload)
      setTimeout(() => source.end(content.subarray(1000)), 5000);
      await upload;
      assert.ok(readFileSync(join(inbound, 'SLOW_3.pgp')).equals(content));
    } finally {
      await s.close();
    }
  });

  it('fails a connection whose server never starts its SFTP subsystem as transient, retried, within the handshake timeout', async function () {
    const t = makeSftpTransport(server.sftpConfig({ port: mutePort, username: 'root', readyTimeoutMs: 1000, retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 } }), { log: silentLogger });
    await assert.rejects(withinMs(t.connect(), 20_000), (err: Error) =>
      err instanceof TransientError && /failed after 2 attempts: .*did not start its SFTP subsystem within 1000 ms/.test(err.message));
  });
});

/** The helper's sshd, less its chroot and internal-sftp: root (whose shell starts `subsystem`) on the real paths. */
async function startRootSshd(dir: string, name: string, subsystem: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freeLoopbackPort();
  const config = readFileSync(join(dir, 'sshd_config'), 'utf8')
    .replace(/^Port .*$/m, `Port ${port}`)
    .replace(/^PidFile .*$/m, `PidFile ${join(dir, `sshd-${name}.pid`)}`)
    .replace(/^PermitRootLogin .*$/m, 'PermitRootLogin prohibit-password')
    .replace(/^AllowUsers .*$/m, 'AllowUsers root')
    .replace(/^Subsystem .*$/m, `Subsystem sftp ${subsystem}`)
    .replace(/^(ChrootDirectory|ForceCommand) .*\n/gm, '');
  writeFileSync(join(dir, `sshd-${name}_config`), config);
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, `sshd-${name}_config`)], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (/Server listening/.test(seen)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${seen}`)));
  });
  return { child, port };
}

/** Rejects when `promise` has not settled in `ms`: a hang must fail the test, not stall it. */
function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
