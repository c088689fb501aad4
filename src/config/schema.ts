import { z } from 'zod';
import { perso, pgp, reports, sftp } from './bureau-sections.js';
import { bureauCode, bureauEntry, checkBureaus, routingSchema, withBureaus } from './bureaus.js';
import { cutOffs, envName, hostName, httpUrl, isoDate, MAX_TIMER_SECONDS, text, timeZone } from './values.js';

/**
 * The configuration schema: one section per concern. Paths are resolved against the config file's
 * folder by load.ts; secrets never live here, only the names of the environment variables holding them.
 */
const database = z.strictObject({
  client: z.enum(['sqlite', 'pg', 'mysql']).default('sqlite'),
  /** SQLite file (relative to workDir when not absolute) */
  filename: text.default('bureau-exchange.sqlite'),
  /** PostgreSQL / MySQL connection URL, without the password */
  url: text.optional(),
  /** environment variable holding the database password, if any */
  passwordEnv: envName.default('BX_DB_PASSWORD'),
  pool: z.strictObject({ min: z.number().int().min(0).default(0), max: z.number().int().min(1).default(5) })
    .refine((p) => p.min <= p.max, { error: 'min must not exceed max', path: ['min'] }).prefault({}),
  migrateOnStart: z.boolean().default(true),
}).refine((d) => d.client === 'sqlite' || d.pool.max >= 2, {
  // a job's lease is renewed on a connection of its own while its transaction holds another: with
  // one, the renewal waits behind a long claim or confirm and the lease runs out under the job
  error: 'at least 2 on PostgreSQL and MariaDB: a job renews its lease on a second connection while its transaction holds one',
  path: ['pool', 'max'],
}).refine((d) => d.client !== 'sqlite' || d.url === undefined, {
  // without client, a URL was ignored: the program ran on a new local SQLite file, not the card system's database
  error: 'a URL is for client pg or mysql: with client sqlite (the default) it would be ignored and a local SQLite file used; set database.client',
  path: ['url'],
});

const pan = z.strictObject({
  keyEnv: envName.default('BX_PAN_KEY'),
  /** during rotation: the previous key, so rows not yet re-encrypted stay readable */
  previousKeyEnv: envName.default('BX_PAN_KEY_PREVIOUS'),
});

const calendar = z.strictObject({
  /** ISO weekdays that are business days: 1 Monday … 7 Sunday */
  workingDays: z.array(z.number().int().min(1).max(7)).default([1, 2, 3, 4, 5]),
  /** public holidays: country code, optionally with region, e.g. DE, DE-BY, US-NY */
  holidays: text.optional(),
  extraHolidays: z.array(isoDate).default([]),
  extraBusinessDays: z.array(isoDate).default([]),
});

const schedule = z.strictObject({
  timezone: timeZone.default('Europe/Berlin'),
  /** send cut-off times on business days */
  sendAt: cutOffs.default(['17:00']),
  receiveEveryMinutes: z.number().int().min(1).max(1440).default(15),
  /** at start, send a business day whose cut-off passed without a sent batch */
  catchUp: z.boolean().default(true),
});

const daemon = z.strictObject({
  leaseTtlSeconds: z.number().int().min(5).max(MAX_TIMER_SECONDS).default(60),
  shutdownTimeoutSeconds: z.number().int().min(1).max(MAX_TIMER_SECONDS).default(30),
});

const http = z.strictObject({
  enabled: z.boolean().default(false),
  host: hostName.default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(9464),
});

const alerts = z.strictObject({
  webhookUrl: httpUrl.optional(),
  /** waits of 1, 2, 4 … s: the 21st would be past Node's longest timer, and the alert would wait 12 days */
  retries: z.number().int().min(0).max(10).default(3),
});

const archive = z.strictObject({
  retentionDays: z.number().int().min(0).default(90),
});

const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

/**
 * The bureau keys come in one of two forms (bureaus.ts, docs/bureaus.md): `bureaus` and `routing`,
 * or a single bureau in `bureau`, `perso`, `pgp`, `sftp`, `reports`. The parsed config always has
 * `bureaus` and `routing`, and the single-bureau sections describe the first bureau.
 */
export const configSchema = z.strictObject({
  issuer: z.strictObject({ code: z.string().regex(/^[A-Z0-9]{1,8}$/, '1–8 characters A-Z 0-9') }),
  bureau: z.strictObject({ code: bureauCode }).optional(),
  bureaus: z.array(bureauEntry).min(1).optional(),
  routing: routingSchema.optional(),
  environment: z.enum(['P', 'T']).default('T'),
  /** work folder: database file, outbox, inbox, archive, quarantine */
  workDir: text.default('var'),
  database: database.prefault({}),
  pan: pan.prefault({}),
  perso: perso.prefault({}),
  pgp: pgp.optional(),
  sftp: sftp.optional(),
  reports: reports.optional(),
  calendar: calendar.prefault({}),
  schedule: schedule.prefault({}),
  daemon: daemon.prefault({}),
  http: http.prefault({}),
  alerts: alerts.prefault({}),
  archive: archive.prefault({}),
  log: log.prefault({}),
}).superRefine(checkBureaus).transform(withBureaus);

export type Config = z.output<typeof configSchema>;
export type { Bureau } from './bureaus.js';
