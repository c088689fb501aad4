import { z } from 'zod';
import { envName, hostName, MAX_TIMER_MS, pgpFingerprint, regex, sha256Hex, text } from './values.js';

/** The sections that describe one bureau: its file layout and names, OpenPGP keys, SFTP account, reports. */
export const lineEnding = z.enum(['LF', 'CRLF']);

/**
 * The personalization file. `layout`, `lineEnding` and `fileNamePattern` describe the one bureau of
 * a config without `bureaus` (with `bureaus`, each bureau gives its own); left out, they are taken
 * from the layout at load (bureaus.ts, bureau-layouts.ts).
 */
export const perso = z.strictObject({
  /** a layout name in layoutsDir, or a path to a layout file (.yaml) */
  layout: z.string().min(1).optional(),
  /** folder of layout YAML files (default: the project's config/layouts) */
  layoutsDir: text.optional(),
  lineEnding: lineEnding.optional(),
  maxCardsPerFile: z.number().int().min(1).max(9_999_999).default(500_000),
  fileNamePattern: text.optional(),
});

export const pgp = z.strictObject({
  /** the bureau's public key (armored or binary) */
  bureauPublicKeyFile: text.optional(),
  /** its pinned fingerprint, hex, spaces allowed */
  bureauFingerprint: pgpFingerprint.optional(),
  /** also encrypt to this key, so we can read our own archive */
  archivePublicKeyFile: text.optional(),
  archiveFingerprint: pgpFingerprint.optional(),
  sign: z.strictObject({
    enabled: z.boolean().default(false),
    privateKeyFile: text.optional(),
    passphraseEnv: envName.default('BX_SIGN_PASSPHRASE'),
  }).prefault({}),
  armor: z.boolean().default(false),
  expiryWarningDays: z.number().int().min(0).default(30),
});

export const sftp = z.strictObject({
  host: hostName.optional(),
  port: z.number().int().min(1).max(65535).default(22),
  username: text.optional(),
  privateKeyFile: text.optional(),
  privateKeyPassphraseEnv: envName.default('BX_SFTP_KEY_PASSPHRASE'),
  passwordEnv: envName.default('BX_SFTP_PASSWORD'),
  /** pinned host key, as OpenSSH prints it: SHA256:<base64> */
  hostKeySha256: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'an OpenSSH fingerprint SHA256:<base64>').optional(),
  inboundDir: text.default('/inbound'),
  outboundDir: text.default('/outbound'),
  processedDir: text.default('/outbound/processed'),
  failedDir: text.default('/outbound/failed'),
  afterApply: z.enum(['move', 'delete']).default('move'),
  readyTimeoutMs: z.number().int().min(1000).max(MAX_TIMER_MS).default(20_000),
  keepaliveIntervalMs: z.number().int().min(0).max(MAX_TIMER_MS).default(10_000),
  retry: z.strictObject({
    attempts: z.number().int().min(1).max(100).default(5),
    baseDelayMs: z.number().int().min(0).max(MAX_TIMER_MS).default(1000),
    maxDelayMs: z.number().int().min(0).max(MAX_TIMER_MS).default(60_000),
  }).refine((r) => r.baseDelayMs <= r.maxDelayMs, { error: 'baseDelayMs must not exceed maxDelayMs', path: ['baseDelayMs'] }).prefault({}),
});

export const reports = z.strictObject({
  /**
   * bureau-interface 1.1 authenticity: `required` (default) quarantines a report whose signature is
   * missing or wrong; `off` applies unsigned reports and every run warns that they are unauthenticated
   */
  signatures: z.enum(['required', 'off'], { error: 'required (the default) or off (reports are then unauthenticated)' }).default('required'),
  /** the bureau's RSA report-signing public key (PEM): `.rsa` reports come with a detached `<name>.sig` */
  signingPublicKeyFile: text.optional(),
  /** its pin: SHA-256 of its DER SubjectPublicKeyInfo, hex */
  signingKeySha256: sha256Hex.optional(),
  /** report file names we pick up ({issuer} is replaced by issuer.code) */
  pattern: regex.default('^{issuer}_REPORT_\\d{8}_\\d{6}\\.xml\\.(rsa|pgp)$'),
  rsaPrivateKeyFile: text.optional(),
  rsaPassphraseEnv: envName.default('BX_RSA_PASSPHRASE'),
  pgpPrivateKeyFile: text.optional(),
  pgpPassphraseEnv: envName.default('BX_PGP_PASSPHRASE'),
  /** accept a private key file readable by group/other */
  allowInsecureKeyFile: z.boolean().default(false),
  maxClearBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
  /** a remote file must be at least this old (by mtime) and of a stable size to be picked up */
  minAgeSeconds: z.number().int().min(0).default(60),
  /** each thread holds the key and a share of the report: thousands would exhaust memory at the first .rsa report */
  decryptWorkers: z.number().int().min(0).max(256).default(0),
  /** a second listing this many seconds after the first must show the same size and time (still being written otherwise) */
  stableCheckSeconds: z.number().min(0).max(300).default(3),
  /** a receive run taking longer is stopped and fails (below the 30 minutes after which /healthz turns) */
  runTimeLimitSeconds: z.number().positive().max(86_400).default(20 * 60),
  /** one report (download, decryption, apply) taking longer stops the run the same way */
  reportTimeLimitSeconds: z.number().positive().max(86_400).default(10 * 60),
}).refine((r) => r.stableCheckSeconds < r.runTimeLimitSeconds, {
  // the run waits that long before its second listing: every run that found a report ran out of time
  message: 'stableCheckSeconds must be less than runTimeLimitSeconds (a run waits that long for its second look)', path: ['stableCheckSeconds'],
}).refine((r) => r.reportTimeLimitSeconds <= r.runTimeLimitSeconds, {
  message: 'reportTimeLimitSeconds must not exceed runTimeLimitSeconds', path: ['reportTimeLimitSeconds'],
}).refine((r) => !r.signingPublicKeyFile || r.signingKeySha256, {
  path: ['signingKeySha256'], error: 'required when reports.signingPublicKeyFile is set (the pin of that key)',
}).refine((r) => !r.signingKeySha256 || r.signingPublicKeyFile, {
  path: ['signingPublicKeyFile'], error: 'required when reports.signingKeySha256 is set (the key that pin belongs to)',
});
