import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { RemoteEntry, RemoteSession } from '../transport/remote.js';
import type { ReportKind } from '../db/reports.js';
import { SIGNATURE_SUFFIX } from '../crypto/report-signature.js';
import { looksLikePan, maskPan, maskPansInText } from '../security/mask.js';

/**
 * Which files of the bureau's outbound folder are reports ready to take: a safe name matching the
 * configured pattern, old enough, and not growing (same size and time on a second look), each with
 * its detached `<name>.sig` when one lies beside it (neither may change between the two looks).
 */
export interface ReadyReport {
  name: string;
  kind: ReportKind;
  size: number;
  modifiedAt: Date;
  /** the detached signature `<name>.sig` beside it, when there is one */
  signature: RemoteEntry | null;
}

const MAX_NAME_LENGTH = 200;
/** How far in the future a report's time may be before it is told (clocks a little apart are normal). */
const FUTURE_TOLERANCE_MS = 5 * 60_000;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why a remote name must not be used (it never becomes a local path anyway), or null when it is safe. */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return `length ${name.length} is not 1..${MAX_NAME_LENGTH}`;
  if (/[\x00-\x1f\x7f]/.test(name)) return 'contains control characters';
  if (/[/\\]/.test(name)) return 'contains a path separator';
  if (name.includes('..')) return 'contains ".."';
  if (!SAFE_NAME.test(name)) return 'has characters outside A-Z a-z 0-9 . _ -';
  return null;
}

export function reportNamePattern(config: Pick<Config, 'issuer' | 'reports'>): RegExp {
  return new RegExp(config.reports.pattern.replaceAll('{issuer}', config.issuer.code));
}

export function reportKindOf(name: string): ReportKind | null {
  if (name.endsWith('.rsa')) return 'rsa';
  if (name.endsWith('.pgp')) return 'pgp';
  return null;
}

export interface PickDeps {
  config: Pick<Config, 'issuer' | 'reports' | 'sftp'>;
  log: Logger;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** names already logged as ignored (each is logged once per process) */
  ignored: Set<string>;
}

export async function pickReadyReports(session: RemoteSession, deps: PickDeps): Promise<ReadyReport[]> {
  const { config, log } = deps;
  if (config.reports.signatures === 'off') {
    log.warn('reports.signatures is off: reports are NOT authenticated (anyone holding our public keys can write one that is applied)');
  }
  const pattern = reportNamePattern(config);
  const candidates: ReadyReport[] = [];
  const listing = await session.list(config.sftp.outboundDir);
  const signatures = signaturesOf(listing, pattern);
  const notices = new LeftAlone(deps, listing);
  for (const entry of listing) {
    if (signatures.has(entry.name) || !readyNow(entry, pattern, deps, notices)) continue;
    const signature = signatures.get(signatureNameOf(entry.name)) ?? null;
    candidates.push({ name: entry.name, kind: reportKindOf(entry.name)!, size: entry.size, modifiedAt: entry.modifiedAt, signature });
  }
  reportOrphanSignatures(notices, signatures, listing);
  notices.flush();
  if (!candidates.length || config.reports.stableCheckSeconds === 0) return sortByName(candidates);
  await deps.sleep(config.reports.stableCheckSeconds * 1000);
  const second = new Map<string, RemoteEntry>((await session.list(config.sftp.outboundDir)).map((e) => [e.name, e]));
  return sortByName(candidates.filter((c) => {
    const again = second.get(c.name);
    // only a regular file is a signature, as on the first look: a symlink or folder so named made the report wait forever
    const sigAgain = [second.get(signatureNameOf(c.name))].find((e) => e?.type === 'file');
    const stable = sameEntry(c, again) && (c.signature ? sameEntry(c.signature, sigAgain) : sigAgain === undefined);
    if (!stable) log.info({ remoteName: c.name }, 'report or its signature still being written (size or time changed): next run');
    return stable;
  }));
}

/** Whether a listed entry is a report to take now; when not, why, told once when the operator should know. */
function readyNow(entry: RemoteEntry, pattern: RegExp, deps: PickDeps, notices: LeftAlone): boolean {
  const reason = unsafeNameReason(entry.name) ?? (pattern.test(entry.name) && reportKindOf(entry.name) ? null : 'does not match reports.pattern');
  if (entry.type !== 'file') {
    // a folder or a symlink named as a report would otherwise never be taken, and nobody told
    if (!reason) notices.add(entry.name, `remote report left alone: it is a ${entry.type === 'dir' ? 'folder' : 'symlink or special file'}, not a regular file`);
    return false;
  }
  if (reason) {
    notices.add(entry.name, `remote file left alone: ${reason}`);
    return false;
  }
  // SFTP makes both optional: without a size the download has no limit, without a time no age
  if (!Number.isSafeInteger(entry.size) || entry.size < 0 || Number.isNaN(entry.modifiedAt.getTime())) {
    notices.add(entry.name, 'remote report left alone: the server listed it without a valid size or time');
    return false;
  }
  return oldEnough(entry, deps, notices);
}

/** reports.minAgeSeconds: a time ahead of ours (the server's clock, or one the bureau's tool set) holds a report back as long, so it is told. */
function oldEnough(entry: RemoteEntry, deps: PickDeps, notices: LeftAlone): boolean {
  const ageMs = deps.now().getTime() - entry.modifiedAt.getTime();
  if (ageMs >= deps.config.reports.minAgeSeconds * 1000) return true;
  if (ageMs < -FUTURE_TOLERANCE_MS) {
    notices.add(entry.name, `report left for now: modified ${entry.modifiedAt.toISOString()}, in the future by our clock (the server's clock ahead?): taken once it is reports.minAgeSeconds old`);
  } else deps.log.debug({ remoteName: entry.name }, 'report too recent (reports.minAgeSeconds): next run');
  return false;
}

/** The detached signature's name of a report (bureau-interface 1.1). */
export function signatureNameOf(reportName: string): string {
  return reportName + SIGNATURE_SUFFIX;
}

/** `<report name>.sig` files of report names: safe, matching the pattern; not reports themselves. */
function signaturesOf(listing: RemoteEntry[], pattern: RegExp): Map<string, RemoteEntry> {
  const found = new Map<string, RemoteEntry>();
  for (const entry of listing) {
    if (entry.type !== 'file' || !entry.name.endsWith(SIGNATURE_SUFFIX) || unsafeNameReason(entry.name)) continue;
    const report = entry.name.slice(0, -SIGNATURE_SUFFIX.length);
    if (pattern.test(report) && reportKindOf(report)) found.set(entry.name, entry);
  }
  return found;
}

/**
 * A signature whose report is not (yet) there is left alone: the bureau uploads it first, its report
 * follows. One that never gets its report stops nothing; it is logged once per process.
 */
function reportOrphanSignatures(notices: LeftAlone, signatures: Map<string, RemoteEntry>, listing: RemoteEntry[]): void {
  const names = new Set(listing.map((e) => e.name));
  for (const name of signatures.keys()) {
    if (!names.has(name.slice(0, -SIGNATURE_SUFFIX.length))) notices.add(name, 'signature without its report left alone: it is taken with its report when that arrives', 'info');
  }
}

/** Names of files left alone logged one by one in a listing; the others are counted in one line. */
const MAX_LOGGED_NAMES = 20;

/**
 * The log lines for files left alone: each name once per process, at most MAX_LOGGED_NAMES of them
 * per listing (a folder of 100,000 strangers is one summary line, not 100,000 warnings on every
 * run of a cron job). Names gone from the server are forgotten, so that `ignored` does not grow
 * for as long as the daemon lives.
 */
class LeftAlone {
  private logged = 0;
  private unlogged = 0;

  constructor(private readonly deps: PickDeps, listing: RemoteEntry[]) {
    const present = new Set(listing.map((e) => e.name));
    for (const name of deps.ignored) if (!present.has(name)) deps.ignored.delete(name);
  }

  add(name: string, message: string, level: 'warn' | 'info' = 'warn'): void {
    if (this.deps.ignored.has(name)) return;
    this.deps.ignored.add(name);
    if (this.logged++ < MAX_LOGGED_NAMES) this.deps.log[level]({ remoteName: JSON.stringify(shownName(name)) }, message);
    else this.unlogged++;
  }

  flush(): void {
    if (this.unlogged) this.deps.log.warn({ count: this.unlogged, dir: this.deps.config.sftp.outboundDir }, `${this.unlogged} more remote files left alone: not logged one by one`);
  }
}

/**
 * A name we do not take, as logged: any text the bureau chose. Digits grouped by any one or two
 * other signs (4111.1111.1111.1111, 4111_1111_1111_1111) are masked when they make a PAN: the log
 * scrubber leaves dots and underscores alone for our own names' sake (a date and a sequence joined by `_`).
 */
function shownName(name: string): string {
  return maskPansInText(name.slice(0, MAX_NAME_LENGTH).replace(/\d(?:[^0-9A-Za-z]{0,2}\d)+/g, (run) => {
    const digits = run.replace(/\D/g, '');
    return holdsPan(digits) ? maskPan(digits) : run;
  }));
}

/** Whether some 12 to 19 consecutive digits of `digits` look like a PAN (a PAN may sit inside a longer run). */
function holdsPan(digits: string): boolean {
  for (let length = 12; length <= Math.min(19, digits.length); length++) {
    for (let start = 0; start + length <= digits.length; start++) if (looksLikePan(digits.slice(start, start + length))) return true;
  }
  return false;
}

function sameEntry(a: { size: number; modifiedAt: Date }, b: RemoteEntry | undefined): boolean {
  return b !== undefined && b.size === a.size && b.modifiedAt.getTime() === a.modifiedAt.getTime();
}

/** Oldest name first: the bureau's names sort by date and sequence, so reports apply in order. */
function sortByName(reports: ReadyReport[]): ReadyReport[] {
  return reports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
