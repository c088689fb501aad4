import { posix } from 'node:path';
import { z } from 'zod';
import { REQUEST_TYPES } from '../domain/contract.js';
import { ROUTING_KEYS, type Routing } from '../domain/routing.js';
import { isIsoAlpha3 } from '../perso/countries.js';
import { lineEnding, pgp, reports, sftp } from './bureau-sections.js';
import { cutOffs } from './values.js';

/**
 * The bureaus of the configuration and the routing of cards between them (docs/bureaus.md).
 * Two forms load: a list under `bureaus` (each with its own layout, keys, SFTP account, report keys
 * and cut-offs), or today's single bureau in the top-level `bureau`, `perso`, `pgp`, `sftp`,
 * `reports` and `schedule.sendAt`, which loads as a list of one. Either way the top-level sections
 * describe the first bureau afterwards, for the code that knows only one.
 */

export const bureauCode = z.string().regex(/^[A-Z0-9]{1,8}$/, '1–8 characters A-Z 0-9');

export const bureauEntry = z.strictObject({
  code: bureauCode,
  /** for people: logs, alerts, status (default: the code) */
  name: z.string().min(1).optional(),
  /** a layout name in perso.layoutsDir, or a path to a layout file (.yaml, relative to the config file) */
  layout: z.string().min(1).default('perso-v1'),
  /** default: the layout's */
  fileNamePattern: z.string().optional(),
  /** default: the layout's first */
  lineEnding: lineEnding.optional(),
  pgp: pgp.prefault({}),
  sftp: sftp.prefault({}),
  reports: reports.prefault({}),
  /** send cut-offs on business days (default: schedule.sendAt) */
  sendAt: cutOffs.optional(),
});

/** One value or a list of them, as a list. */
const oneOrMore = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as Array<z.output<T>>);
const upper = z.string().trim().min(1).transform((v) => v.toUpperCase());

const when = z.strictObject({
  productCode: oneOrMore(upper),
  country: oneOrMore(upper.refine(isIsoAlpha3, { error: (issue) => `${JSON.stringify(issue.input)} is not an ISO 3166 alpha-3 country code (cards hold alpha-3)` })),
  deliveryMethod: oneOrMore(z.union([z.number().int().min(1).max(4), z.enum(['1', '2', '3', '4'])]).transform(String)),
  requestType: oneOrMore(z.enum(REQUEST_TYPES)),
}).partial().refine((w) => Object.keys(w).length > 0, {
  error: `a rule needs at least one of ${ROUTING_KEYS.join(', ')} (a rule for every card is routing.default)`,
});

export const routingSchema = z.strictObject({
  /** tried in order; the first that matches a card decides its bureau */
  rules: z.array(z.strictObject({ bureau: bureauCode, when })).default([]),
  /** the bureau of a card no rule matches; without one, such a card is Invalid */
  default: bureauCode.optional(),
});

type BureauEntry = z.output<typeof bureauEntry>;

export interface Bureau {
  code: string;
  name: string;
  /** the layout as configured: a name in perso.layoutsDir, or a path; after load, the layout file's absolute path */
  layout: string;
  /** the file name pattern: as configured, else the layout's (set at load) */
  fileNamePattern?: string;
  /** the line ending: as configured, else the layout's first (set at load) */
  lineEnding?: 'LF' | 'CRLF';
  pgp: BureauEntry['pgp'];
  sftp: BureauEntry['sftp'];
  reports: BureauEntry['reports'];
  /** send cut-offs on business days, HH:MM in schedule.timezone */
  sendAt: string[];
}

/** What the raw document holds of the bureau keys, after each section's own checks. */
interface RawBureauKeys {
  bureau?: { code: string } | undefined;
  bureaus?: BureauEntry[] | undefined;
  routing?: z.output<typeof routingSchema> | undefined;
  perso: { layout?: string | undefined; lineEnding?: 'LF' | 'CRLF' | undefined; fileNamePattern?: string | undefined };
  pgp?: BureauEntry['pgp'] | undefined;
  sftp?: BureauEntry['sftp'] | undefined;
  reports?: BureauEntry['reports'] | undefined;
  schedule: { sendAt: string[] };
}

const PER_BUREAU_SECTIONS = ['bureau', 'pgp', 'sftp', 'reports'] as const;
const PER_BUREAU_PERSO_KEYS = ['layout', 'lineEnding', 'fileNamePattern'] as const;

/**
 * A parsed config has both forms: `bureaus`, and the first bureau's sections at the top level. Read
 * again (a config written out as JSON, or extended and parsed again), the top-level sections are
 * the first bureau's when `bureau.code` names it, and win over what `bureaus[0]` says.
 */
function repeatsFirst(doc: RawBureauKeys): boolean {
  return doc.bureaus !== undefined && doc.bureau !== undefined && doc.bureau.code === doc.bureaus[0]?.code;
}

/** The checks across keys: one form or the other, unique codes, routing naming known bureaus. */
export function checkBureaus(doc: RawBureauKeys, ctx: z.RefinementCtx): void {
  const issue = (path: Array<string | number>, message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (!doc.bureaus) {
    if (!doc.bureau) issue(['bureau'], 'required: the bureau\'s code (or list the bureaus under bureaus)');
  } else if (!repeatsFirst(doc)) {
    for (const key of PER_BUREAU_SECTIONS) {
      if (doc[key] !== undefined) issue([key], `with bureaus, give ${key} in each bureau (bureaus[i].${key === 'bureau' ? 'code' : key}), not at the top level`);
    }
    for (const key of PER_BUREAU_PERSO_KEYS) {
      if (doc.perso[key] !== undefined) issue(['perso', key], `with bureaus, give ${key} in each bureau (bureaus[i].${key}), not under perso`);
    }
  }
  const bureaus = doc.bureaus ?? (doc.bureau ? [{ code: doc.bureau.code }] : []);
  const codes = bureaus.map((b) => b.code);
  codes.forEach((code, i) => {
    const first = codes.indexOf(code);
    if (first < i) issue(['bureaus', i, 'code'], `${code} is also the code of bureaus[${first}]: codes must differ`);
  });
  if (doc.bureaus) checkSharedFolders(doc.bureaus, (i, key, message) => issue(['bureaus', i, 'sftp', key], message));
  else if (doc.sftp) checkSharedFolders([{ sftp: doc.sftp }], (_, key, message) => issue(['sftp', key], message));
  if (!doc.routing) {
    if (codes.length > 1) issue(['routing'], 'required when there are several bureaus: which cards go to which bureau');
    return;
  }
  const known = (code: string) => codes.includes(code);
  const list = codes.join(', ');
  doc.routing.rules.forEach((rule, i) => {
    if (!known(rule.bureau)) issue(['routing', 'rules', i, 'bureau'], `${rule.bureau} is not a configured bureau (${list})`);
  });
  if (doc.routing.default !== undefined && !known(doc.routing.default)) issue(['routing', 'default'], `${doc.routing.default} is not a configured bureau (${list})`);
}

/**
 * On one SFTP server, a bureau's inboundDir and outboundDir are its own: no other folder, of another
 * bureau or of itself, may be one of them. One bureau's personalization files or applied reports
 * would reach the other bureau (a processedDir that is another's inboundDir hands it our reports,
 * one that is another's outboundDir has it take them for its own), and reports picked up from a
 * shared folder could not be told apart. processedDir and failedDir may be shared (a report moved
 * there takes a suffix rather than replace another); processedDir counts only with afterApply: move.
 */
function checkSharedFolders(bureaus: Array<Pick<BureauEntry, 'sftp'>>, issue: (i: number, key: FolderKey, message: string) => void): void {
  const seen = new Map<string, { i: number; key: FolderKey }>();
  const shareable = (key: FolderKey) => key === 'processedDir' || key === 'failedDir';
  bureaus.forEach(({ sftp }, i) => {
    if (!sftp.host) return;
    for (const key of FOLDER_KEYS) {
      if (key === 'processedDir' && sftp.afterApply === 'delete') continue;
      const place = `${sftp.host.toLowerCase()}:${sftp.port}:${posix.normalize(sftp[key]).replace(/\/+$/, '') || '/'}`;
      const other = seen.get(place);
      if (!other || (shareable(key) && shareable(other.key))) {
        if (!other) seen.set(place, { i, key });
        continue;
      }
      const whose = other.i === i ? `this bureau's ${other.key}` : `a folder of bureaus[${other.i}] (its ${other.key})`;
      issue(i, key, `${sftp[key]} on ${sftp.host} is also ${whose}: each bureau needs its own inbound and outbound folders`);
    }
  });
}

const FOLDER_KEYS = ['inboundDir', 'outboundDir', 'processedDir', 'failedDir'] as const;
type FolderKey = typeof FOLDER_KEYS[number];

const DEFAULT_FILE_NAME = '{issuer}_PERSO_{date}_{seq}.dat.pgp';

/**
 * The bureaus as a list, the routing, and the top-level sections describing the first bureau.
 * The objects are shared, not copied: bureaus[0].pgp is config.pgp, so a path resolved in one is
 * resolved in the other.
 */
export function withBureaus<T extends RawBureauKeys>(doc: T) {
  const { bureaus: listed, routing: rawRouting, ...rest } = doc;
  const entries = listed && repeatsFirst(doc) ? [firstFromTopLevel(doc, listed[0]!), ...listed.slice(1)] : listed;
  const bureaus: Bureau[] = entries
    ? entries.map((e) => ({
      code: e.code, name: e.name ?? e.code, layout: e.layout, ...optional(e), pgp: e.pgp, sftp: e.sftp, reports: e.reports,
      sendAt: e.sendAt ?? doc.schedule.sendAt,
    }))
    : [{
      code: doc.bureau!.code, name: doc.bureau!.code, layout: doc.perso.layout ?? 'perso-v1', ...optional(doc.perso),
      pgp: doc.pgp ?? pgp.parse({}), sftp: doc.sftp ?? sftp.parse({}), reports: doc.reports ?? reports.parse({}), sendAt: doc.schedule.sendAt,
    }];
  const first = bureaus[0]!;
  const routing: Routing = rawRouting
    ? { rules: rawRouting.rules, ...(rawRouting.default !== undefined ? { default: rawRouting.default } : {}) }
    : { rules: [], default: first.code };
  return {
    ...rest,
    bureau: { code: first.code },
    perso: { ...doc.perso, layout: first.layout, lineEnding: first.lineEnding ?? 'LF', fileNamePattern: first.fileNamePattern ?? DEFAULT_FILE_NAME },
    pgp: first.pgp,
    sftp: first.sftp,
    reports: first.reports,
    schedule: { ...doc.schedule, sendAt: first.sendAt },
    bureaus,
    routing,
  };
}

/** bureaus[0] with what the top-level sections say of it (see repeatsFirst). */
function firstFromTopLevel(doc: RawBureauKeys, entry: BureauEntry): BureauEntry {
  return {
    ...entry,
    layout: doc.perso.layout ?? entry.layout,
    ...optional({ fileNamePattern: doc.perso.fileNamePattern ?? entry.fileNamePattern, lineEnding: doc.perso.lineEnding ?? entry.lineEnding }),
    pgp: doc.pgp ?? entry.pgp, sftp: doc.sftp ?? entry.sftp, reports: doc.reports ?? entry.reports, sendAt: doc.schedule.sendAt,
  };
}

function optional(from: { fileNamePattern?: string | undefined; lineEnding?: 'LF' | 'CRLF' | undefined }): Pick<Bureau, 'fileNamePattern' | 'lineEnding'> {
  return {
    ...(from.fileNamePattern !== undefined ? { fileNamePattern: from.fileNamePattern } : {}),
    ...(from.lineEnding !== undefined ? { lineEnding: from.lineEnding } : {}),
  };
}

/** One character of a rendered file name: a literal, or a digit of the date (0–7) or of the sequence (0–5). */
type NameSlot = { literal: string } | { digit: string };

const DIGITS = { date: 8, seq: 6 } as const;

function nameSlots(pattern: string, issuer: string): NameSlot[] {
  const slots: NameSlot[] = [];
  for (const part of pattern.split(/(\{[^}]*\})/)) {
    const key = /^\{(date|seq)\}$/.exec(part)?.[1] as keyof typeof DIGITS | undefined;
    if (key) for (let i = 0; i < DIGITS[key]; i++) slots.push({ digit: `${key}${i}` });
    else for (const c of part === '{issuer}' ? issuer : part) slots.push({ literal: c });
  }
  return slots;
}

/**
 * Whether two file name patterns could give the same name for the same business date and sequence
 * (the issuer is the same for every bureau). Each name is a row of literals and of the date's and
 * sequence's digits: the names agree when, position by position, every literal meets an equal literal
 * or a digit, and the digits forced equal never need two different values. Any 8 and 6 digits
 * count, so a doubtful pair (`{date}{seq}` and `{seq}{date}`) is refused rather than risked.
 */
export function fileNamesCanCollide(a: string, b: string, issuer: string): boolean {
  return slotsCanCollide(nameSlots(a, issuer), nameSlots(b, issuer));
}

function slotsCanCollide(x: readonly NameSlot[], y: readonly NameSlot[]): boolean {
  if (x.length !== y.length) return false;
  const parent = new Map<string, string>();
  const find = (v: string): string => {
    const p = parent.get(v) ?? v;
    if (p === v) return v;
    const root = find(p);
    parent.set(v, root);
    return root;
  };
  // a class of digits forced equal, with the literal it must be, if any ("=5")
  const value = new Map<string, string>();
  const bind = (digit: string, literal: string): boolean => {
    if (!/^[0-9]$/.test(literal)) return false;
    const root = find(digit);
    const bound = value.get(root);
    if (bound !== undefined && bound !== literal) return false;
    value.set(root, literal);
    return true;
  };
  for (let i = 0; i < x.length; i++) {
    const [p, q] = [x[i]!, y[i]!];
    if ('literal' in p && 'literal' in q) {
      if (p.literal !== q.literal) return false;
    } else if ('literal' in p || 'literal' in q) {
      const [digit, literal] = 'digit' in p ? [p.digit, (q as { literal: string }).literal] : [(q as { digit: string }).digit, (p as { literal: string }).literal];
      if (!bind(digit, literal)) return false;
    } else {
      const [rp, rq] = [find((p as { digit: string }).digit), find((q as { digit: string }).digit)];
      if (rp === rq) continue;
      const [vp, vq] = [value.get(rp), value.get(rq)];
      if (vp !== undefined && vq !== undefined && vp !== vq) return false;
      parent.set(rp, rq);
      if (vp !== undefined) value.set(rq, vp);
    }
  }
  return true;
}

/** The first pair of bureaus whose file names could be the same (see fileNamesCanCollide), as their indexes. */
export function collidingFileNames(bureaus: ReadonlyArray<{ fileNamePattern?: string }>, issuer: string): [number, number] | undefined {
  // every pair is compared (500 bureaus: 125,000 pairs), so each pattern is cut into slots once
  const slots = bureaus.map((b) => (b.fileNamePattern === undefined ? undefined : nameSlots(b.fileNamePattern, issuer)));
  for (let j = 1; j < bureaus.length; j++) {
    for (let i = 0; i < j; i++) {
      const [a, b] = [slots[i], slots[j]];
      if (a !== undefined && b !== undefined && slotsCanCollide(a, b)) return [i, j];
    }
  }
  return undefined;
}
