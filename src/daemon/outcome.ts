import { messageOf } from '../errors.js';
import type { ReceiveResult, SendResult } from '../jobs.js';
import { EXIT_CODES } from './shutdown.js';

/** What one run-once did, job by job: a result or an error. */
export interface RunOnceOutcome {
  send?: { result?: SendResult; error?: string };
  receive?: { result?: ReceiveResult; error?: string };
}

/** 1 when a job failed, 3 when all ran but left something for a person (Invalid cards, quarantined report), else 0. */
export function exitCodeOf(outcome: RunOnceOutcome): number {
  if (outcome.send?.error !== undefined || outcome.receive?.error !== undefined) return EXIT_CODES.failure;
  const invalid = outcome.send?.result ? (outcome.send.result.invalidTotal ?? outcome.send.result.invalid.length) : 0;
  const quarantined = outcome.receive?.result?.quarantined.length ?? 0;
  return invalid > 0 || quarantined > 0 ? EXIT_CODES.partial : EXIT_CODES.ok;
}

/** Runs a job, keeping its error as a PAN-safe message instead of throwing. */
export async function settle<R>(run: () => Promise<R>): Promise<{ result?: R; error?: string }> {
  try {
    return { result: await run() };
  } catch (err) {
    return { error: messageOf(err) };
  }
}
