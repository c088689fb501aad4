import Holidays from 'date-holidays';
import { ConfigError } from '../errors.js';
import { addDays } from './dates.js';

/** Public holidays of one country[-state[-region]] code, from date-holidays, by date. */
export interface HolidaySource {
  /** the code as configured, e.g. DE-BY */
  code: string;
  /** names of the public holidays on the date (empty when none) */
  namesOn(date: string): string[];
}

export function makeHolidaySource(code: string): HolidaySource {
  const [country, state, region] = code.toUpperCase().split('-') as [string, string?, string?];
  const lib = new Holidays();
  const countries = lib.getCountries('en');
  if (!countries[country]) throw new ConfigError(`calendar.holidays: unknown country code "${country}" in "${code}"`);
  if (state && !lib.getStates(country, 'en')?.[state]) {
    throw new ConfigError(`calendar.holidays: "${country}" has no state or region "${state}" (from "${code}")`);
  }
  if (state && region && !lib.getRegions(country, state, 'en')?.[region]) {
    throw new ConfigError(`calendar.holidays: "${country}-${state}" has no region "${region}" (from "${code}")`);
  }
  const holidays = new Holidays(country, state ?? '', region ?? '', { languages: ['en'], types: ['public'] });
  const byYear = new Map<number, Map<string, string[]>>();

  function yearTable(year: number): Map<string, string[]> {
    let table = byYear.get(year);
    if (!table) {
      table = new Map();
      // the year before too: a holiday of several days that starts in December may end in January
      for (const h of [...(holidays.getHolidays(year - 1) || []), ...(holidays.getHolidays(year) || [])]) {
        if (h.type !== 'public') continue;
        for (const date of datesOf(h)) {
          if (date.startsWith(`${year}-`)) table.set(date, [...(table.get(date) ?? []), h.name]);
        }
      }
      byYear.set(year, table);
    }
    return table;
  }

  return { code, namesOn: (date) => yearTable(Number(date.slice(0, 4))).get(date) ?? [] };
}

/**
 * The dates a holiday covers: from its date, one per day of its length. Some last several days (New
 * Year in Russia, Eid in the Gulf, Chuseok in Korea); a day of 23 or 25 hours (DST) is one day.
 */
function datesOf(h: { date: string; start: Date; end: Date }): string[] {
  const first = h.date.slice(0, 10);
  const days = Math.max(1, Math.round((h.end.getTime() - h.start.getTime()) / 86_400_000));
  return Array.from({ length: days }, (_, i) => addDays(first, i));
}
