import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { addDays, assertDate, isoWeekday, weekdayName } from './dates.js';
import { makeHolidaySource, type HolidaySource } from './holidays.js';
import { dateInZone } from './zone.js';

export { addDays, isValidDate, isoWeekday, weekdayName } from './dates.js';
export { assertTimezone, dateInZone, instantInZone, timeInZone } from './zone.js';

/** Business days: working weekdays, minus public and extra holidays, plus extra business days. */
export interface BusinessCalendar {
  isBusinessDay(date: string): boolean;
  /** why the date is not a business day ("Saturday", "holiday: Christmas Day (DE)"), null when it is one */
  whyNot(date: string): string | null;
  /** the n-th business day after the date (n = 0: the date itself if a business day, else the next) */
  nextBusinessDay(date: string, n?: number): string;
  /** the n-th business day before the date (n = 0: the date itself if a business day, else the previous) */
  previousBusinessDay(date: string, n?: number): string;
  /** the calendar date a wall clock in the zone shows at the instant (business day or not) */
  businessDateAt(instant: Date, timezone: string): string;
}

/** No calendar has a gap of business days this long; reaching it means the config allows none. */
const MAX_SCAN_DAYS = 366 * 2;

export function makeCalendar(config: Config['calendar']): BusinessCalendar {
  const workingDays = new Set(config.workingDays);
  const extraHolidays = new Set(config.extraHolidays.map((d) => assertDate(d, 'calendar.extraHolidays')));
  const extraBusinessDays = new Set(config.extraBusinessDays.map((d) => assertDate(d, 'calendar.extraBusinessDays')));
  const both = [...extraHolidays].filter((d) => extraBusinessDays.has(d));
  if (both.length) throw new ConfigError(`calendar: ${both.join(', ')} is listed both in extraHolidays and extraBusinessDays`);
  if (workingDays.size === 0 && extraBusinessDays.size === 0) throw new ConfigError('calendar.workingDays: no business day at all');
  const holidays: HolidaySource | undefined = config.holidays ? makeHolidaySource(config.holidays) : undefined;

  function whyNot(date: string): string | null {
    assertDate(date, 'date');
    if (extraBusinessDays.has(date)) return null;
    if (extraHolidays.has(date)) return 'extra holiday (calendar.extraHolidays)';
    if (!workingDays.has(isoWeekday(date))) return weekdayName(date);
    const names = holidays?.namesOn(date) ?? [];
    return names.length ? `holiday: ${names.join(' / ')} (${holidays!.code})` : null;
  }
  const isBusinessDay = (date: string) => whyNot(date) === null;

  function step(date: string, n: number, direction: 1 | -1): string {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`business day count must be a whole number ≥ 0, got ${n}`);
    let current = assertDate(date, 'date');
    let remaining = n;
    if (remaining === 0 && isBusinessDay(current)) return current;
    for (let scanned = 0; scanned < MAX_SCAN_DAYS * Math.max(1, n); scanned++) {
      current = addDays(current, direction);
      if (isBusinessDay(current) && --remaining <= 0) return current;
    }
    throw new ConfigError(`calendar: no business day found within ${MAX_SCAN_DAYS} days of ${date}`);
  }

  return {
    isBusinessDay,
    whyNot,
    nextBusinessDay: (date, n = 1) => step(date, n, 1),
    previousBusinessDay: (date, n = 1) => step(date, n, -1),
    businessDateAt: (instant, timezone) => dateInZone(instant, timezone),
  };
}
