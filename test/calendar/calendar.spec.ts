import assert from 'node:assert/strict';
import { makeCalendar, instantInZone, dateInZone, timeInZone } from '../../src/calendar/index.js';
import { ConfigError } from '../../src/errors.js';
import { testConfig } from '../helpers/config.js';

const calendarWith = (section: Record<string, unknown> = {}) => makeCalendar(testConfig({ calendar: section }).calendar);

describe('calendar', () => {
  describe('weekdays and public holidays', () => {
    const de = calendarWith({ holidays: 'DE' });

    it('Monday to Friday are business days, weekends are not, and say why', () => {
      assert.equal(de.isBusinessDay('2026-11-27'), true); // Friday
      assert.equal(de.whyNot('2026-11-28'), 'Saturday');
      assert.equal(de.whyNot('2026-11-29'), 'Sunday');
    });

    it('takes public holidays of the country, named in English', () => {
      assert.equal(de.whyNot('2026-12-25'), 'holiday: Christmas Day (DE)');
      assert.equal(de.whyNot('2026-04-03'), 'holiday: Good Friday (DE)');
      assert.equal(de.isBusinessDay('2026-12-24'), true, 'Christmas Eve is not a public holiday in Germany');
    });

    it('takes regional holidays only for the configured region', () => {
      assert.equal(de.isBusinessDay('2026-01-06'), true);
      assert.equal(calendarWith({ holidays: 'DE-BY' }).whyNot('2026-01-06'), 'holiday: Epiphany (DE-BY)');
    });

    it('counts a substitute (observed) public holiday, US-NY', () => {
      const ny = calendarWith({ holidays: 'US-NY' });
      assert.match(ny.whyNot('2026-07-03')!, /^holiday: Independence Day \(substitute day\)/);
      assert.match(ny.whyNot('2026-11-26')!, /Thanksgiving/);
      assert.equal(ny.isBusinessDay('2026-11-27'), true, 'the day after Thanksgiving is only an observance');
    });

    it('a public holiday of several days is a holiday on each of them (RU New Year, AE Eid, KR Chuseok)', () => {
      const ru = calendarWith({ holidays: 'RU' });
      for (const date of ['2026-01-05', '2026-01-06']) assert.equal(ru.whyNot(date), 'holiday: New Year Holiday (RU)', date); // Monday, Tuesday
      assert.equal(ru.isBusinessDay('2026-01-09'), true);
      const ae = calendarWith({ holidays: 'AE', workingDays: [1, 2, 3, 4, 5] });
      assert.match(ae.whyNot('2026-05-28')!, /Eid al-Adha/); // Thursday, the second day
      const kr = calendarWith({ holidays: 'KR' });
      assert.match(kr.whyNot('2026-09-25')!, /Korean Thanksgiving/); // Friday, the second day
      assert.equal(kr.isBusinessDay('2026-09-28'), true);
      // from December into January: Eswatini's Incwala, 28 December for six days
      assert.match(calendarWith({ holidays: 'SZ' }).whyNot('2027-01-01')!, /Incwala/);
    });

    it('has no holidays when none are configured', () => {
      assert.equal(calendarWith().isBusinessDay('2026-12-25'), true);
    });

    it('refuses an unknown country or region with a ConfigError naming the key', () => {
      assert.throws(() => calendarWith({ holidays: 'XX' }), (e: Error) => e instanceof ConfigError && /calendar\.holidays.*XX/.test(e.message));
      assert.throws(() => calendarWith({ holidays: 'DE-ZZ' }), /no state or region "ZZ"/);
    });
  });

  describe('extra days', () => {
    it('an extra business day makes a Saturday or a holiday a business day', () => {
      const cal = calendarWith({ holidays: 'DE', extraBusinessDays: ['2026-11-28', '2026-12-25'] });
      assert.equal(cal.isBusinessDay('2026-11-28'), true);
      assert.equal(cal.isBusinessDay('2026-12-25'), true);
      assert.equal(cal.nextBusinessDay('2026-11-27'), '2026-11-28');
    });

    it('an extra holiday removes a working day', () => {
      const cal = calendarWith({ extraHolidays: ['2026-12-24', '2026-12-31'] });
      assert.equal(cal.whyNot('2026-12-24'), 'extra holiday (calendar.extraHolidays)');
      assert.equal(cal.nextBusinessDay('2026-12-23'), '2026-12-25');
    });

    it('refuses a date listed as both, and dates that do not exist', () => {
      assert.throws(() => calendarWith({ extraHolidays: ['2026-12-24'], extraBusinessDays: ['2026-12-24'] }), /both/);
      assert.throws(() => calendarWith({ extraHolidays: ['2026-02-30'] }), /calendar\.extraHolidays: "2026-02-30" is not a date/);
    });

    it('honours a six-day week', () => {
      const cal = calendarWith({ workingDays: [1, 2, 3, 4, 5, 6] });
      assert.equal(cal.isBusinessDay('2026-11-28'), true);
      assert.equal(cal.whyNot('2026-11-29'), 'Sunday');
    });
  });

  describe('stepping', () => {
    const de = calendarWith({ holidays: 'DE' });

    it('nextBusinessDay skips weekends and holidays, n days ahead', () => {
      assert.equal(de.nextBusinessDay('2026-12-23'), '2026-12-24');
      assert.equal(de.nextBusinessDay('2026-12-24'), '2026-12-28');
      assert.equal(de.nextBusinessDay('2026-12-24', 3), '2026-12-30');
      assert.equal(de.nextBusinessDay('2026-12-31'), '2027-01-04', 'crosses the year and New Year');
    });

    it('n = 0 is the date itself when a business day, else the next one', () => {
      assert.equal(de.nextBusinessDay('2026-12-23', 0), '2026-12-23');
      assert.equal(de.nextBusinessDay('2026-12-26', 0), '2026-12-28');
    });

    it('previousBusinessDay goes back over weekends and holidays', () => {
      assert.equal(de.previousBusinessDay('2026-12-28'), '2026-12-24');
      assert.equal(de.previousBusinessDay('2026-04-06'), '2026-04-02', 'Easter Monday back past Good Friday');
      assert.equal(de.previousBusinessDay('2026-12-27', 0), '2026-12-24');
    });

    it('refuses malformed dates', () => {
      assert.throws(() => de.isBusinessDay('26-12-2026'), ConfigError);
      assert.throws(() => de.nextBusinessDay('2026-12-01', -1), RangeError);
    });
  });

  describe('time zones', () => {
    it('businessDateAt gives the date of the zone, not of UTC', () => {
      const cal = calendarWith();
      assert.equal(cal.businessDateAt(new Date('2026-11-26T23:30:00Z'), 'Europe/Berlin'), '2026-11-27');
      assert.equal(cal.businessDateAt(new Date('2026-11-27T03:30:00Z'), 'America/New_York'), '2026-11-26');
    });

    it('a 17:00 Europe/Berlin cut-off is 16:00 UTC in winter and 15:00 UTC in summer, also on the DST days', () => {
      assert.equal(instantInZone('2026-03-28', '17:00', 'Europe/Berlin').toISOString(), '2026-03-28T16:00:00.000Z');
      assert.equal(instantInZone('2026-03-29', '17:00', 'Europe/Berlin').toISOString(), '2026-03-29T15:00:00.000Z');
      assert.equal(instantInZone('2026-10-25', '17:00', 'Europe/Berlin').toISOString(), '2026-10-25T16:00:00.000Z');
      assert.equal(instantInZone('2026-10-24', '17:00', 'Europe/Berlin').toISOString(), '2026-10-24T15:00:00.000Z');
    });

    it('a time in the spring-forward gap moves forward, a repeated autumn time takes its first occurrence', () => {
      assert.equal(instantInZone('2026-03-29', '02:30', 'Europe/Berlin').toISOString(), '2026-03-29T01:30:00.000Z');
      assert.equal(timeInZone(new Date('2026-03-29T01:30:00Z'), 'Europe/Berlin'), '03:30');
      assert.equal(instantInZone('2026-10-25', '02:30', 'Europe/Berlin').toISOString(), '2026-10-25T00:30:00.000Z');
    });

    it('handles half-hour zones and the date line', () => {
      assert.equal(instantInZone('2026-11-26', '17:00', 'Asia/Kolkata').toISOString(), '2026-11-26T11:30:00.000Z');
      assert.equal(dateInZone(new Date('2026-11-26T11:00:00Z'), 'Pacific/Kiritimati'), '2026-11-27');
    });

    it('refuses an unknown time zone with a ConfigError', () => {
      assert.throws(() => instantInZone('2026-11-26', '17:00', 'Mars/Olympus'), ConfigError);
    });
  });
});
