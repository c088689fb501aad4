import type { Logger } from '../log.js';

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
