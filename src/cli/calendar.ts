import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { addDays, assertTimezone, isValidDate, makeCalendar, weekdayName } from '../calendar/index.js';
import { UsageError } from '../errors.js';
import { bureausOf, wholeNumber } from './options.js';
import { printJson, printTable } from './output.js';

export const order = 60;

export function register(program: Command): void {
  program
    .command('calendar')
    .description("the coming days: which are business days (sends happen, at each bureau's cut-offs) and why the others are not")
    .option('--bureau <code>', "this bureau's cut-offs only (default: every bureau's)")
    .option('--from <date>', 'first day, YYYY-MM-DD (default: today in schedule.timezone)')
    .option('--days <n>', 'how many days to show', '14')
    .option('--json', 'one JSON document instead of a table')
    .action((opts: { from?: string; days: string; json?: boolean; bureau?: string }, cmd: Command) => {
      const config = loadConfig(cmd.optsWithGlobals().config);
      const bureaus = bureausOf(config, opts.bureau);
      const calendar = makeCalendar(config.calendar);
      const from = opts.from ?? calendar.businessDateAt(new Date(), assertTimezone(config.schedule.timezone));
      if (!isValidDate(from)) throw new UsageError(`--from: ${JSON.stringify(from)} is not a date YYYY-MM-DD`);
      const days = wholeNumber(opts.days, '--days', { max: 3660 });
      if (!isValidDate(addDays(from, days - 1))) throw new UsageError(`--from ${from} --days ${days}: past 9999-12-31`);
      // each bureau sends at its own cut-offs (bureaus[i].sendAt, default schedule.sendAt), on business days only
      const rows = Array.from({ length: days }, (_, i) => addDays(from, i)).map((date) => {
        const why = calendar.whyNot(date);
        const cutOffs = Object.fromEntries(bureaus.map((b) => [b.code, why === null ? [...b.sendAt].sort() : []]));
        return { date, weekday: weekdayName(date), business: why === null ? 'yes' : 'no', why: why ?? '', cutOffs };
      });
      // without holiday rules, Christmas is a business day: say so, so nobody takes silence for a check
      const notice = config.calendar.holidays ? undefined
        : 'No public holidays are configured (calendar.holidays): every working weekday is a business day, 25 December included.\n';
      if (opts.json) {
        if (notice) process.stderr.write(notice);
        printJson(rows);
      } else {
        if (notice) process.stdout.write(notice);
        process.stdout.write(`Cut-offs (${config.schedule.timezone}): ${bureaus.map((b) => `${b.code} ${[...b.sendAt].sort().join(' ')}`).join('; ')}\n`);
        printTable(rows.map(({ cutOffs, ...row }) => ({
          ...row, 'cut-offs': Object.entries(cutOffs).filter(([, times]) => times.length).map(([code, times]) => (bureaus.length > 1 ? `${code} ${times.join(' ')}` : times.join(' '))).join('; '),
        })));
      }
    });
}
