import { ConfigError } from '../errors.js';

/** Plain calendar dates as YYYY-MM-DD text: no time of day, no time zone. */

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const WEEKDAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** True when the text is a real date (2026-02-30 is not). */
export function isValidDate(date: string): boolean {
  const m = DATE_RE.exec(date);
  if (!m) return false;
  const t = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return t.toISOString().slice(0, 10) === date;
}

/** Throws a ConfigError naming `what` unless the text is a real YYYY-MM-DD date. */
export function assertDate(date: string, what: string): string {
  if (!isValidDate(date)) throw new ConfigError(`${what}: "${date}" is not a date YYYY-MM-DD`);
  return date;
}

function toUtcMidnight(date: string): Date {
  return new Date(`${date}T00:00:00Z`);
}

/** The date `days` days after (or before, when negative) the given one. */
export function addDays(date: string, days: number): string {
  const t = toUtcMidnight(date);
  t.setUTCDate(t.getUTCDate() + days);
  return t.toISOString().slice(0, 10);
}

/** ISO weekday: 1 Monday … 7 Sunday. */
export function isoWeekday(date: string): number {
  return ((toUtcMidnight(date).getUTCDay() + 6) % 7) + 1;
}

export function weekdayName(date: string): string {
  return WEEKDAY_NAMES[isoWeekday(date) - 1]!;
}
