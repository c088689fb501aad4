/** How every command that runs a job (send, receive, run-once, daemon) answers SIGTERM and SIGINT. */

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
 * A one-shot command's stop: the first signal tells (`stopping`) and aborts the returned signal, so
 * the job stops at its next safe point; a second one exits at once with 130 (every step resumes
 * at the next run).
 */
export function abortOnSignals(stopping: (signal: NodeJS.Signals) => void): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const dispose = onShutdownSignals({
    graceful(signal) {
      stopping(signal);
      controller.abort();
    },
    forced: () => process.exit(130),
  });
  return { signal: controller.signal, dispose };
}
