// The run of the send and receive commands over several bureaus in turn (`--bureau`: options.ts bureausOf).
import { ConfigError, messageOf } from '../errors.js';
import { scrub } from '../log.js';

/**
 * Runs `runOne` for each bureau in turn: one failing (its server unreachable, say) does not keep the
 * next from its turn; each is headed by its code when the config has several. When one bureau ran,
 * its error is the command's; else the command fails at the end, after every bureau had its turn, as a
 * configuration error (exit 2, no point retrying) when one bureau's was, so that a scheduler that
 * retries failures (exit 1) tells the two apart with several bureaus as with one.
 */
export async function forEachBureau<J extends { code: string }>(
  command: string, jobs: J[], options: { several: boolean; signal: AbortSignal }, runOne: (job: J) => Promise<void>,
): Promise<void> {
  let failed = 0;
  let misconfigured = false;
  for (const job of jobs) {
    if (options.signal.aborted) break;
    if (options.several) process.stdout.write(`Bureau ${job.code}\n`);
    try {
      await runOne(job);
    } catch (err) {
      if (jobs.length === 1) throw err;
      failed++;
      misconfigured ||= err instanceof ConfigError;
      process.stderr.write(scrub(`bureau-exchange: bureau ${job.code}: error: ${messageOf(err)}`) + '\n');
    }
  }
  if (!failed) return;
  const message = `${command} failed for ${failed} of ${jobs.length} bureaus (above); the others had their turn`;
  throw misconfigured ? new ConfigError(`${message}; a bureau's configuration needs fixing`) : new Error(message);
}
