import type { Logger } from '../log.js';

export interface ShutdownHandlers {
  /** the first SIGTERM/SIGINT: stop gracefully */
  graceful(signal: NodeJS.Signals): void;
  /** a second signal while stopping: exit now */
  forced(signal: NodeJS.Signals): void;
}

/** Listens for SIGTERM and SIGINT: the first asks for a graceful stop, a second forces it. Returns a disposer. */
export function onShutdownSignals(handlers: ShutdownHandlers, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): () => void {
  let received = false;
  const listener = (signal: NodeJS.Signals) => {
    if (received) return handlers.forced(signal);
    received = true;
    handlers.graceful(signal);
  };
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}

/**
 * Resolves with true when `stop` finished within `timeoutMs`, false when it did not (the caller
 * then exits anyway: every step of the jobs can be abandoned safely and resumes at the next start).
 */
export async function stopWithin(stop: () => Promise<void>, timeoutMs: number, log: Logger): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    const finished = await Promise.race([stop().then(() => true as const), timedOut]);
    if (!finished) log.warn({ timeoutMs }, 'shutdown timeout: the current step is abandoned; the next start resumes it');
    return finished;
  } finally {
    clearTimeout(timer);
  }
}

/** Exit codes of run-once and the daemon (README, docs/operations.md). */
export const EXIT_CODES = { ok: 0, failure: 1, usage: 2, partial: 3 } as const;
