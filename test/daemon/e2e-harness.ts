import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config/schema.js';
import { PROJECT_ROOT } from '../../src/config/load.js';
import type { SshdServer } from '../helpers/sshd.js';
import type { BureauKeys } from '../outbound/harness.js';

const CHILD = fileURLToPath(new URL('./daemon-child.ts', import.meta.url));

import { freeLoopbackPort } from '../../src/sandbox/init.js';

export { freeLoopbackPort as freePort };

/** A config file for a daemon child: every day a business day, one cut-off at 00:00 (so catch-up sends at start). */
export function writeDaemonConfig(opts: {
  keys: BureauKeys;
  sshd: SshdServer;
  database: Config['database'];
  httpPort: number;
  workDir?: string;
  shutdownTimeoutSeconds: number;
  /** more sections, merged over the ones above */
  extra?: Record<string, unknown>;
}): { file: string; workDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'bx-daemon-'));
  const workDir = opts.workDir ?? join(dir, 'work');
  const config = {
    issuer: { code: 'BXISSUER' },
    bureau: { code: 'BUREAU01' },
    workDir,
    database: opts.database,
    perso: { layoutsDir: join(PROJECT_ROOT, 'config', 'layouts'), maxCardsPerFile: 3 },
    pgp: { bureauPublicKeyFile: opts.keys.publicKeyFile, bureauFingerprint: opts.keys.fingerprint },
    sftp: opts.sshd.sftpConfig(),
    calendar: { workingDays: [1, 2, 3, 4, 5, 6, 7] },
    schedule: { timezone: 'Europe/Berlin', sendAt: ['00:00'], receiveEveryMinutes: 1440, catchUp: true },
    daemon: { leaseTtlSeconds: 5, shutdownTimeoutSeconds: opts.shutdownTimeoutSeconds },
    http: { enabled: true, host: '127.0.0.1', port: opts.httpPort },
    log: { level: 'info' },
    ...opts.extra,
  };
  const file = join(dir, 'config.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, workDir };
}

/** A daemon child process with its collected output. */
export interface DaemonChild {
  process: ChildProcess;
  output(): string;
  /** resolves when a log line with this text appeared */
  waitForLog(text: string, timeoutMs?: number): Promise<void>;
  /** resolves with the exit code (or signal name) and how long after `since` it exited */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

export function startDaemonChild(configFile: string, env: Record<string, string>): DaemonChild {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, configFile], {
    env: { ...process.env, BX_CONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  return {
    process: child,
    output: () => output,
    exited,
    async waitForLog(text, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        if (child.exitCode !== null) throw new Error(`daemon exited (${child.exitCode}) before logging "${text}":\n${output}`);
        if (Date.now() > end) throw new Error(`timed out waiting for "${text}":\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Where the test pauses a daemon child's send (daemon-child.ts): at a fault point, for `ms` or until a signal. */
export interface ChildPause {
  at: string;
  ms: number;
  untilSignal?: boolean;
}

/**
 * The daemon children of a suite, on its sshd, bureau keys and database (given once the suite has
 * them), all with one PAN key: `start` writes a config on a port of its own and starts a child;
 * `killAll` SIGKILLs those still running.
 */
export function daemonChildren(on: () => { keys: BureauKeys; sshd: SshdServer; database: Config['database'] }, panKey: Buffer) {
  const children: DaemonChild[] = [];
  return {
    async start({ shutdownTimeoutSeconds, pause, workDir }: { shutdownTimeoutSeconds: number; pause?: ChildPause; workDir?: string }) {
      const httpPort = await freeLoopbackPort();
      const config = writeDaemonConfig({ ...on(), httpPort, shutdownTimeoutSeconds, workDir });
      const child = startDaemonChild(config.file, { BX_PAN_KEY: panKey.toString('base64'), ...pauseEnv(pause) });
      children.push(child);
      return { child, workDir: config.workDir, url: `http://127.0.0.1:${httpPort}`, config };
    },
    killAll(): void {
      for (const child of children.splice(0)) if (child.process.exitCode === null) child.process.kill('SIGKILL');
    },
  };
}

function pauseEnv(pause: ChildPause | undefined): Record<string, string> {
  if (!pause) return {};
  return { BX_TEST_PAUSE_AT: pause.at, BX_TEST_PAUSE_MS: String(pause.ms), ...(pause.untilSignal ? { BX_TEST_PAUSE_UNTIL_SIGNAL: '1' } : {}) };
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json() };
}

export async function waitUntil(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
