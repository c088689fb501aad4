import type { App } from '../app.js';
import { makeJobRunner } from '../daemon/job-runner.js';
import { makeRunHistory, type RunCounts } from '../daemon/run-history.js';
import { runnerOwner } from '../lease/runner-lease.js';

/**
 * Runs a job by hand through the daemon's job runner, so the run is recorded in the history like a
 * scheduled one (trigger 'manual'). Resolves with its result or throws its error, as a direct call would.
 */
export async function runManually<O extends object, R>(
  app: Pick<App, 'db' | 'log'>, name: string, run: (options: O & { signal: AbortSignal }) => Promise<R>, options: O, counts: (result: R) => RunCounts,
): Promise<R> {
  const runner = makeJobRunner<O, R>({
    name, run, log: app.log, clock: () => new Date(),
    history: { record: makeRunHistory({ db: app.db, runner: runnerOwner(), log: app.log }), counts },
  });
  // the command's own stop signal (SIGINT/SIGTERM) aborts the run at its next safe point
  const signal = (options as { signal?: AbortSignal }).signal;
  const abort = () => runner.abort('stop requested');
  signal?.addEventListener('abort', abort, { once: true });
  const running = runner.trigger('manual', options);
  if (signal?.aborted) abort();
  const record = await running.finally(() => signal?.removeEventListener('abort', abort));
  if (!record) throw new Error(`${name}: a run was already going`);
  if (record.error !== undefined) throw record.error;
  return record.result as R;
}
