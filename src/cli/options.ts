import { UsageError } from '../errors.js';

/**
 * A whole number option (1 000 written as 1000, 1_000 or 1,000), from `min` to `max`: anything else
 * is a usage error naming the option (exit 2), never a silent default.
 */
export function wholeNumber(text: string, option: string, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}): number {
  const digits = text.replace(/[,_]/g, '');
  const value = Number(digits);
  if (!/^\d+$/.test(digits) || value < min || value > max) {
    // with thousands separators, as accepted: 9007199254740991 has the digits of a card number, and the error line's scrubber masked it
    const [from, to] = [min, max].map((n) => n.toLocaleString('en-US'));
    throw new UsageError(`${option}: a whole number from ${from} to ${to}, not ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * The bureaus a command acts on: the one `--bureau` names, else every configured bureau in config
 * order. A code that is not configured is a usage error listing the configured ones.
 */
export function bureausOf<B extends { code: string }>(config: { bureaus: readonly B[] }, wanted: string | undefined): B[] {
  if (wanted === undefined) return [...config.bureaus];
  const found = config.bureaus.filter((b) => b.code === wanted);
  if (!found.length) throw new UsageError(`--bureau: ${JSON.stringify(wanted)} is not a configured bureau (${config.bureaus.map((b) => b.code).join(', ')})`);
  return found;
}
