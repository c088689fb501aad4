import { ConfigError } from '../errors.js';

/** Wall-clock dates and times in an IANA time zone, with the Intl API only (no tz library). */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone, hourCycle: 'h23',
        year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
      });
    } catch {
      throw new ConfigError(`unknown time zone "${timezone}" (use an IANA name such as Europe/Berlin)`);
    }
    formatters.set(timezone, f);
  }
  return f;
}

/** Throws a ConfigError when the zone is not a known IANA time zone. */
export function assertTimezone(timezone: string): string {
  formatterFor(timezone);
  return timezone;
}

interface WallClock { year: number; month: number; day: number; hour: number; minute: number; second: number }

function wallClockAt(instant: Date, timezone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timezone).formatToParts(instant)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The calendar date YYYY-MM-DD that a wall clock in the zone shows at the instant. */
export function dateInZone(instant: Date, timezone: string): string {
  const w = wallClockAt(instant, timezone);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}`;
}

/** HH:MM on a wall clock in the zone at the instant. */
export function timeInZone(instant: Date, timezone: string): string {
  const w = wallClockAt(instant, timezone);
  return `${pad(w.hour)}:${pad(w.minute)}`;
}

/** Offset of the zone from UTC at the instant, in milliseconds (Berlin in summer: +2 h). */
function offsetAt(instant: Date, timezone: string): number {
  const w = wallClockAt(instant, timezone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(instant.getTime() / 1000) * 1000;
}

/**
 * The instant at which the zone's wall clock shows `date` `hhmm`. A time skipped by a DST change
 * (02:30 on a spring-forward night) moves forward by the length of the gap (03:30), as Temporal's
 * 'compatible' disambiguation does; a time that occurs twice maps to its first occurrence.
 */
export function instantInZone(date: string, hhmm: string, timezone: string): Date {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi] = hhmm.split(':').map(Number) as [number, number];
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  // try the offsets in force a day either side: one of them is the offset at the answer
  const candidates = [-36e5 * 24, 0, 36e5 * 24]
    .map((shift) => offsetAt(new Date(wall + shift), timezone))
    .map((offset) => wall - offset)
    .filter((t) => timeInZone(new Date(t), timezone) === hhmm && dateInZone(new Date(t), timezone) === date);
  if (candidates.length) return new Date(Math.min(...candidates));
  // inside a DST gap the wall time never occurs: apply the offset from before the gap
  return new Date(wall - Math.min(offsetAt(new Date(wall - 864e5), timezone), offsetAt(new Date(wall + 864e5), timezone)));
}
