import type { BusinessCalendar } from '../calendar/index.js';
import { addDays, dateInZone, instantInZone } from '../calendar/index.js';
import type { Config } from '../config/schema.js';
import { sendLeaseOf } from '../lease/job-lease.js';

/** One send cut-off on one date, with whether the date is a business day. */
export interface SendSlot {
  /** YYYY-MM-DD in the schedule's time zone */
  date: string;
  /** HH:MM as configured */
  time: string;
  /** the instant of the cut-off */
  at: Date;
  /** null when a business day, else why not */
  notBusiness: string | null;
}

const MINUTE = 60_000;

/**
 * Pure schedule arithmetic: which send cut-offs and receive polls fall in a time window. The daemon
 * asks about the window since its previous tick, so a late or missed timer tick never loses a slot.
 */
export interface SchedulePlan {
  /** the send cut-offs in (from, to], business day or not, in time order */
  sendSlotsBetween(from: Date, to: Date): SendSlot[];
  /** true when a receive poll (every N minutes from midnight in the zone) falls in (from, to] */
  receiveDueBetween(from: Date, to: Date): boolean;
  /** the latest cut-off at or before `now` on a business day, with its business date */
  lastCutOff(now: Date): { date: string; at: Date };
}

export function makeSchedulePlan(calendar: BusinessCalendar, schedule: Config['schedule']): SchedulePlan {
  const { timezone, sendAt, receiveEveryMinutes } = schedule;
  const times = [...sendAt].sort();
  // the daemon asks every minute: remember the instants already computed (a few per day)
  const instants = new Map<string, Date>();
  const instantOf = (date: string, time: string): Date => {
    const key = `${date} ${time}`;
    let at = instants.get(key);
    if (!at) {
      if (instants.size > 1000) instants.clear();
      instants.set(key, (at = instantInZone(date, time, timezone)));
    }
    return at;
  };

  function sendSlotsBetween(from: Date, to: Date): SendSlot[] {
    const slots: SendSlot[] = [];
    // one day of margin either side: a zone's date can differ from the window's ends by a day
    for (let date = addDays(dateInZone(from, timezone), -1); date <= addDays(dateInZone(to, timezone), 1); date = addDays(date, 1)) {
      for (const time of times) {
        const at = instantOf(date, time);
        if (at > from && at <= to) slots.push({ date, time, at, notBusiness: calendar.whyNot(date) });
      }
    }
    return slots.sort((a, b) => a.at.getTime() - b.at.getTime());
  }

  function receiveDueBetween(from: Date, to: Date): boolean {
    if (to.getTime() - from.getTime() >= receiveEveryMinutes * MINUTE) return true;
    for (let t = Math.floor(from.getTime() / MINUTE) * MINUTE + MINUTE; t <= to.getTime(); t += MINUTE) {
      if (minuteOfDay(new Date(t)) % receiveEveryMinutes === 0) return true;
    }
    return false;
  }

  function minuteOfDay(instant: Date): number {
    const date = dateInZone(instant, timezone);
    return Math.round((instant.getTime() - instantOf(date, '00:00').getTime()) / MINUTE);
  }

  function lastCutOff(now: Date): { date: string; at: Date } {
    const today = dateInZone(now, timezone);
    let date = calendar.isBusinessDay(today) ? today : calendar.previousBusinessDay(today);
    let passed = times.map((t) => instantOf(date, t)).filter((at) => at <= now);
    if (!passed.length) {
      date = calendar.previousBusinessDay(date);
      passed = times.map((t) => instantOf(date, t));
    }
    return { date, at: passed[passed.length - 1]! };
  }

  return { sendSlotsBetween, receiveDueBetween, lastCutOff };
}

/** One bureau's send schedule: its code, the name its runs carry (its lease), its own cut-offs. */
export interface BureauSendPlan {
  code: string;
  /** `send` for the first bureau, `send:<CODE>` for the others (lease/job-lease.ts) */
  job: string;
  sendAt: string[];
  plan: SchedulePlan;
}

/**
 * Each bureau's send schedule, in config order: its own cut-offs (`bureaus[i].sendAt`, which the
 * config fills from schedule.sendAt when not given), in the one time zone and business calendar.
 */
export function bureauSendPlans(calendar: BusinessCalendar, config: Pick<Config, 'schedule' | 'bureaus'>): BureauSendPlan[] {
  return config.bureaus.map((b) => ({
    code: b.code, job: sendLeaseOf(config.bureaus, b.code), sendAt: b.sendAt,
    plan: makeSchedulePlan(calendar, { ...config.schedule, sendAt: b.sendAt }),
  }));
}
