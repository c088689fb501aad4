/**
 * Crash tests: a job runs in a child process until it reaches a named pause point, tells the parent
 * (IPC) and waits there; the parent then kills it with SIGKILL (kill -9: no finally, no cleanup, no
 * rollback but the database's own), looks at what the dead process left, and restarts the job.
 */
import { spawn } from 'node:child_process';

/** Child side: tells the parent that the job stands at `point`, and never returns (the parent kills us here). */
export function pauseHere(point: string): Promise<never> {
  if (!process.send) throw new Error('pauseHere needs an IPC channel to the parent');
  process.send({ pausedAt: point });
  setInterval(() => undefined, 1 << 30); // stay alive whatever the job was waiting for
  return new Promise<never>(() => undefined);
}

/** Parent side: a child stopped at its pause point. */
export interface PausedChild {
  pid: number;
  /** SIGKILLs the child and resolves once it is dead (rejects if it died of anything else) */
  kill(): Promise<void>;
}

/**
 * Runs `script` (TypeScript, through tsx) with `env` until it reports its pause point (or, given a
 * list, each of them, in any order: several jobs of one child). Rejects with the child's output when
 * it exits first, or when it does not pause within `timeoutMs`.
 */
export function runUntilPaused(script: string, env: Record<string, string>, expected: string | string[], timeoutMs = 120_000): Promise<PausedChild> {
  const waiting = Array.isArray(expected) ? [...expected] : [expected];
  const expectedPoint = waiting.join(', ');
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return new Promise<PausedChild>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the child did not reach '${expectedPoint}' within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the child ended (${signal ?? `exit ${code}`}) before reaching '${expectedPoint}':\n${output}`));
    });
    child.on('message', (message: { pausedAt?: string }) => {
      const at = waiting.indexOf(message.pausedAt ?? '');
      if (at < 0) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`the child paused at '${message.pausedAt}', expected '${expectedPoint}'`));
        return;
      }
      waiting.splice(at, 1);
      if (waiting.length) return;
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        async kill() {
          child.kill('SIGKILL');
          const end = await exited;
          if (end.signal !== 'SIGKILL') throw new Error(`the child ended with ${end.signal ?? `exit ${end.code}`}, not SIGKILL:\n${output}`);
        },
      });
    });
  });
}

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs` (generous: the machine is shared). */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
