import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.js';
import { freeLoopbackPort } from '../../src/sandbox/init.js';
import { openSshFingerprint } from '../../src/transport/sftp.js';
import { requireOrSkip } from './ci.js';
import { testConfig } from './config.js';

/**
 * A real OpenSSH sshd on a loopback port for the transport tests: own ed25519 host key, own client
 * key, `internal-sftp` chrooted to a temp folder with writable `inbound/` and `outbound/`.
 * The SFTP user is `nobody`, so that permissions are enforced (root would write anywhere).
 */
export interface SshdServer {
  host: string;
  port: number;
  username: string;
  privateKeyFile: string;
  /** the host key's fingerprint as OpenSSH prints it: SHA256:<base64> */
  hostKeySha256: string;
  /** local folder that the remote '/' maps to */
  root: string;
  /** a Config['sftp'] pointing at this server (fast retries for tests) */
  sftpConfig(overrides?: Partial<Config['sftp']>): Config['sftp'];
  /** kills the open SFTP sessions (the connection drops), the listener keeps running */
  killSessions(): void;
  /** sends a signal to the open sessions' processes, e.g. SIGSTOP for a server that stops answering */
  signalSessions(signal: NodeJS.Signals): void;
  /** connections the server holds open now (one sshd process per connection) */
  openConnections(): number;
  stop(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';
const SFTP_USER = 'nobody';
/** ChrootDirectory needs every path component root-owned and not group/world-writable: /tmp is not. */
const BASE_DIR = process.env.BX_TEST_SSHD_BASE ?? '/run/bx-test-sshd';

/** null when a test sshd can run here, else why not. */
export function sshdUnavailableReason(): string | null {
  if (!existsSync(SSHD)) return `${SSHD} is not installed (apt-get install openssh-server)`;
  if (process.getuid?.() !== 0) return 'the test sshd (chroot, user nobody) needs to run as root';
  return null;
}

export function sshdAvailable(): boolean {
  return sshdUnavailableReason() === null;
}

/** In a mocha `before`: skips the suite with the reason when sshd is unusable, fails under CI=true. */
export function requireSshd(ctx: Mocha.Context): void {
  requireOrSkip(ctx, sshdUnavailableReason());
}

export async function startSshd(): Promise<SshdServer> {
  mkdirSync(BASE_DIR, { recursive: true, mode: 0o755 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(BASE_DIR, 'sshd-'));
  chmodSync(dir, 0o755);
  const root = makeChroot(dir);
  const hostKey = join(dir, 'host_key');
  const clientKey = join(dir, 'client_key');
  keygen(hostKey);
  keygen(clientKey);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(clientKey + '.pub'), { mode: 0o644 });
  const port = await freeLoopbackPort();
  const configFile = join(dir, 'sshd_config');
  writeFileSync(configFile, sshdConfig(dir, port, root));
  const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const output: string[] = [];
  child.stderr!.on('data', (d: Buffer) => {
    output.push(d.toString());
    if (output.length > 100) output.shift();
  });
  await waitListening(child, output);
  const hostKeySha256 = fingerprintOf(readFileSync(hostKey + '.pub', 'utf8'));
  return {
    host: '127.0.0.1',
    port,
    username: SFTP_USER,
    privateKeyFile: clientKey,
    hostKeySha256,
    root,
    sftpConfig: (overrides = {}) => ({
      ...testConfig().sftp,
      host: '127.0.0.1',
      port,
      username: SFTP_USER,
      privateKeyFile: clientKey,
      hostKeySha256,
      readyTimeoutMs: 5000,
      retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 },
      ...overrides,
    }),
    killSessions: () => signalDescendants(child.pid!, 'SIGKILL'),
    signalSessions: (signal) => signalDescendants(child.pid!, signal),
    openConnections: () => childPids(child.pid!).length,
    stop: async () => {
      signalDescendants(child.pid!, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The chroot: root-owned 0755, with inbound/ and outbound/ owned by the SFTP user. */
function makeChroot(dir: string): string {
  const root = join(dir, 'root');
  mkdirSync(root, { mode: 0o755 });
  const { uid, gid } = userIds(SFTP_USER);
  for (const sub of ['inbound', 'outbound']) {
    mkdirSync(join(root, sub), { mode: 0o755 });
    chownSync(join(root, sub), uid, gid);
  }
  return root;
}

export function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
  if (!line) throw new Error(`user ${name} does not exist`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function sshdConfig(dir: string, port: number, root: string): string {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_key')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin no',
    `AllowUsers ${SFTP_USER}`,
    'Subsystem sftp internal-sftp',
    `ChrootDirectory ${root}`,
    'ForceCommand internal-sftp',
    'AllowTcpForwarding no',
    'X11Forwarding no',
    'LogLevel INFO',
    '',
  ].join('\n');
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bx-test', '-f', file], { stdio: 'ignore' });
}

/** SHA256:<base64 without padding> of an OpenSSH public key line, as `ssh-keygen -lf` prints it. */
export function fingerprintOf(publicKeyLine: string): string {
  return openSshFingerprint(Buffer.from(publicKeyLine.trim().split(/\s+/)[1]!, 'base64'));
}


function waitListening(child: ChildProcess, output: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`sshd did not start within 10 s: ${output.join('')}`)), 10_000);
    const onData = () => {
      if (/Server listening on/.test(output.join(''))) done();
    };
    const onExit = (code: number | null) => fail(new Error(`sshd exited (${code}) at start: ${output.join('')}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
    };
    const done = () => { cleanup(); resolve(); };
    const fail = (err: Error) => { cleanup(); child.kill('SIGKILL'); reject(err); };
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Signals, by pid, the processes sshd forked for open sessions (and theirs). */
function signalDescendants(pid: number, signal: NodeJS.Signals): void {
  for (const child of childPids(pid)) {
    signalDescendants(child, signal);
    try {
      process.kill(child, signal);
    } catch {
      // already gone
    }
  }
}

function childPids(pid: number): number[] {
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return [];
  const pids: number[] = [];
  for (const task of readdirSync(tasks)) {
    try {
      const text = readFileSync(join(tasks, task, 'children'), 'utf8').trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    } catch {
      // the task ended meanwhile
    }
  }
  return pids;
}
