import { z } from 'zod';

/**
 * The configuration schema: one section per concern. Paths are resolved against the config file's
 * folder by load.ts; secrets never live here, only the names of the environment variables holding them.
 */
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (A-Z, 0-9, _)');
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time HH:MM');
// that the date exists (no 2026-02-30) is checked with the calendar, at load (config/load.ts)
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD');
/** an IANA time zone that this Node's Intl knows (a typo fails at load, not at the first cut-off) */
const timeZone = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, { error: (issue) => `unknown time zone ${JSON.stringify(issue.input)}: an IANA name such as Europe/Berlin` });
/** a regular expression (reports.pattern) that compiles */
const regex = z.string().refine((text) => {
  try {
    new RegExp(text.replaceAll('{issuer}', 'X'));
    return true;
  } catch {
    return false;
  }
}, { error: (issue) => `not a valid regular expression: ${JSON.stringify(issue.input)}` });

const database = z.strictObject({
  client: z.enum(['sqlite', 'pg', 'mysql']).default('sqlite'),
  /** SQLite file (relative to workDir when not absolute) */
  filename: z.string().default('bureau-exchange.sqlite'),
  /** PostgreSQL / MySQL connection URL, without the password */
  url: z.string().optional(),
  /** environment variable holding the database password, if any */
  passwordEnv: envName.default('BX_DB_PASSWORD'),
  pool: z.strictObject({ min: z.number().int().min(0).default(0), max: z.number().int().min(1).default(5) })
    .refine((p) => p.min <= p.max, { error: 'min must not exceed max', path: ['min'] }).prefault({}),
  migrateOnStart: z.boolean().default(true),
});

const pan = z.strictObject({
  keyEnv: envName.default('BX_PAN_KEY'),
  /** during rotation: the previous key, so rows not yet re-encrypted stay readable */
  previousKeyEnv: envName.default('BX_PAN_KEY_PREVIOUS'),
});

const perso = z.strictObject({
  layout: z.string().default('perso-v1'),
  /** folder of layout YAML files (default: the project's config/layouts) */
  layoutsDir: z.string().optional(),
  lineEnding: z.enum(['LF', 'CRLF']).default('LF'),
  maxCardsPerFile: z.number().int().min(1).max(9_999_999).default(500_000),
  fileNamePattern: z.string().default('{issuer}_PERSO_{date}_{seq}.dat.pgp'),
});

const pgp = z.strictObject({
  /** the bureau's public key (armored or binary) */
  bureauPublicKeyFile: z.string().optional(),
  /** its pinned fingerprint, hex, spaces allowed */
  bureauFingerprint: z.string().optional(),
  /** also encrypt to this key, so we can read our own archive */
  archivePublicKeyFile: z.string().optional(),
  archiveFingerprint: z.string().optional(),
  sign: z.strictObject({
    enabled: z.boolean().default(false),
    privateKeyFile: z.string().optional(),
    passphraseEnv: envName.default('BX_SIGN_PASSPHRASE'),
  }).prefault({}),
  armor: z.boolean().default(false),
  expiryWarningDays: z.number().int().min(0).default(30),
});

const sftp = z.strictObject({
  host: z.string().optional(),
  port: z.number().int().min(1).max(65535).default(22),
  username: z.string().optional(),
  privateKeyFile: z.string().optional(),
  privateKeyPassphraseEnv: envName.default('BX_SFTP_KEY_PASSPHRASE'),
  passwordEnv: envName.default('BX_SFTP_PASSWORD'),
  /** pinned host key, as OpenSSH prints it: SHA256:<base64> */
  hostKeySha256: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'an OpenSSH fingerprint SHA256:<base64>').optional(),
  inboundDir: z.string().default('/inbound'),
  outboundDir: z.string().default('/outbound'),
  processedDir: z.string().default('/outbound/processed'),
  failedDir: z.string().default('/outbound/failed'),
  afterApply: z.enum(['move', 'delete']).default('move'),
  readyTimeoutMs: z.number().int().min(1000).default(20_000),
  keepaliveIntervalMs: z.number().int().min(0).default(10_000),
  retry: z.strictObject({
    attempts: z.number().int().min(1).default(5),
    baseDelayMs: z.number().int().min(0).default(1000),
    maxDelayMs: z.number().int().min(0).default(60_000),
  }).refine((r) => r.baseDelayMs <= r.maxDelayMs, { error: 'baseDelayMs must not exceed maxDelayMs', path: ['baseDelayMs'] }).prefault({}),
});

/** SHA-256 as hex (64 digits; ':' or spaces between bytes allowed, as tools print it) */
const sha256Hex = z.string().refine((s) => /^[0-9a-f]{64}$/i.test(s.replace(/[\s:]/g, '')), 'a SHA-256 in hex (64 hex digits)');

const reports = z.strictObject({
  /**
   * bureau-interface 1.1 authenticity: `required` (default) quarantines a report whose signature is
   * missing or wrong; `off` applies unsigned reports and every run warns that they are unauthenticated
   */
  signatures: z.enum(['required', 'off'], { error: 'required (the default) or off (reports are then unauthenticated)' }).default('required'),
  /** the bureau's RSA report-signing public key (PEM): `.rsa` reports come with a detached `<name>.sig` */
  signingPublicKeyFile: z.string().optional(),
  /** its pin: SHA-256 of its DER SubjectPublicKeyInfo, hex */
  signingKeySha256: sha256Hex.optional(),
  /** report file names we pick up ({issuer} is replaced by issuer.code) */
  pattern: regex.default('^{issuer}_REPORT_\\d{8}_\\d{6}\\.xml\\.(rsa|pgp)$'),
  rsaPrivateKeyFile: z.string().optional(),
  rsaPassphraseEnv: envName.default('BX_RSA_PASSPHRASE'),
  pgpPrivateKeyFile: z.string().optional(),
  pgpPassphraseEnv: envName.default('BX_PGP_PASSPHRASE'),
  /** accept a private key file readable by group/other */
  allowInsecureKeyFile: z.boolean().default(false),
  maxClearBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
  /** a remote file must be at least this old (by mtime) and of a stable size to be picked up */
  minAgeSeconds: z.number().int().min(0).default(60),
  decryptWorkers: z.number().int().min(0).default(0),
  /** a second listing this many seconds after the first must show the same size and time (still being written otherwise) */
  stableCheckSeconds: z.number().min(0).max(300).default(3),
  /** a receive run taking longer is stopped and fails (below the 30 minutes after which /healthz turns) */
  runTimeLimitSeconds: z.number().positive().max(86_400).default(20 * 60),
  /** one report (download, decryption, apply) taking longer stops the run the same way */
  reportTimeLimitSeconds: z.number().positive().max(86_400).default(10 * 60),
}).refine((r) => r.reportTimeLimitSeconds <= r.runTimeLimitSeconds, {
  message: 'reportTimeLimitSeconds must not exceed runTimeLimitSeconds', path: ['reportTimeLimitSeconds'],
}).refine((r) => !r.signingPublicKeyFile || r.signingKeySha256, {
  path: ['signingKeySha256'], error: 'required when reports.signingPublicKeyFile is set (the pin of that key)',
}).refine((r) => !r.signingKeySha256 || r.signingPublicKeyFile, {
  path: ['signingPublicKeyFile'], error: 'required when reports.signingKeySha256 is set (the key that pin belongs to)',
});

const calendar = z.strictObject({
  /** ISO weekdays that are business days: 1 Monday … 7 Sunday */
  workingDays: z.array(z.number().int().min(1).max(7)).default([1, 2, 3, 4, 5]),
  /** public holidays: country code, optionally with region, e.g. DE, DE-BY, US-NY */
  holidays: z.string().optional(),
  extraHolidays: z.array(isoDate).default([]),
  extraBusinessDays: z.array(isoDate).default([]),
});

const schedule = z.strictObject({
  timezone: timeZone.default('Europe/Berlin'),
  /** send cut-off times on business days */
  sendAt: z.array(hhmm).min(1).default(['17:00']),
  receiveEveryMinutes: z.number().int().min(1).max(1440).default(15),
  /** at start, send a business day whose cut-off passed without a sent batch */
  catchUp: z.boolean().default(true),
});

const daemon = z.strictObject({
  leaseTtlSeconds: z.number().int().min(5).default(60),
  shutdownTimeoutSeconds: z.number().int().min(1).default(30),
});

const http = z.strictObject({
  enabled: z.boolean().default(false),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(9464),
});

const alerts = z.strictObject({
  webhookUrl: z.string().url().optional(),
  retries: z.number().int().min(0).default(3),
});

const archive = z.strictObject({
  retentionDays: z.number().int().min(0).default(90),
});

const log = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
});

export const configSchema = z.strictObject({
  issuer: z.strictObject({ code: z.string().regex(/^[A-Z0-9]{1,8}$/, '1–8 characters A-Z 0-9') }),
  bureau: z.strictObject({ code: z.string().regex(/^[A-Z0-9]{1,8}$/, '1–8 characters A-Z 0-9') }),
  environment: z.enum(['P', 'T']).default('T'),
  /** work folder: database file, outbox, inbox, archive, quarantine */
  workDir: z.string().default('var'),
  database: database.prefault({}),
  pan: pan.prefault({}),
  perso: perso.prefault({}),
  pgp: pgp.prefault({}),
  sftp: sftp.prefault({}),
  reports: reports.prefault({}),
  calendar: calendar.prefault({}),
  schedule: schedule.prefault({}),
  daemon: daemon.prefault({}),
  http: http.prefault({}),
  alerts: alerts.prefault({}),
  archive: archive.prefault({}),
  log: log.prefault({}),
});

export type Config = z.infer<typeof configSchema>;
