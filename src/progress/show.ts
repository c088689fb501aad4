import type { Logger } from '../log.js';
import { describeProgress, JobProgress } from './job-progress.js';

export interface ShowProgressOptions {
  /** where a line is drawn when it is a terminal (stderr: stdout carries only the command's output); the daemon gives none */
  terminal?: NodeJS.WriteStream;
  /** off a terminal, progress goes to the log at an interval */
  log: Logger;
  /** how often the terminal line is redrawn */
  redrawMs?: number;
  /** how often a progress log line is written off a terminal */
  logIntervalMs?: number;
}

/** A redraw often enough to look alive, rare enough to cost nothing next to the job. */
const REDRAW_MS = 250;
/** A log line every so often: a reader of `journalctl -f` sees the job moving, the log does not fill up. */
const LOG_INTERVAL_MS = 10_000;

/**
 * Shows a job's progress while it runs: on a terminal, one line redrawn in place on `stream`; off a
 * terminal (systemd, a pipe, a file), an info log line at a steady interval. Returns the stop, which
 * clears the terminal line so that the command's own output starts on a clean line.
 */
export function showProgress(progress: JobProgress, options: ShowProgressOptions): () => void {
  if (options.terminal?.isTTY) return drawOnTerminal(progress, options.terminal, options.redrawMs ?? REDRAW_MS);
  const timer = setInterval(() => {
    const s = progress.snapshot();
    options.log.info({ progress: { job: s.job, step: s.step, done: s.done, total: s.total, unit: s.unit, bytes: s.bytes, rate: Math.round(s.rate), etaSeconds: s.etaSeconds === null ? null : Math.ceil(s.etaSeconds) } }, describeProgress(s));
  }, options.logIntervalMs ?? LOG_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

function drawOnTerminal(progress: JobProgress, stream: NodeJS.WriteStream, redrawMs: number): () => void {
  let drawn = false;
  const draw = () => {
    const width = Math.max(20, (stream.columns || 80) - 1);
    stream.write(`\r${describeProgress(progress.snapshot()).slice(0, width)}\x1b[K`);
    drawn = true;
  };
  const timer = setInterval(draw, redrawMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (drawn) stream.write('\r\x1b[K');
  };
}

/** Runs a command's job with its progress shown on stderr (or logged), and stopped however the job ends. */
export async function withProgressShown<T>(job: string, log: Logger, run: (progress: JobProgress) => Promise<T>): Promise<T> {
  const progress = new JobProgress(job);
  const stop = showProgress(progress, { terminal: process.stderr, log });
  try {
    return await run(progress);
  } finally {
    stop();
  }
}
