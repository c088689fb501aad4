import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { RemoteEntry, RemoteSession } from '../transport/remote.js';
import type { ReportKind } from '../db/reports.js';

/**
 * Which files of the bureau's outbound folder are reports ready to take: a safe name matching the
 * configured pattern, old enough, and not growing (same size and time on a second look).
 */
export interface ReadyReport {
  name: string;
  kind: ReportKind;
  size: number;
  modifiedAt: Date;
}

const MAX_NAME_LENGTH = 200;
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
  const pattern = reportNamePattern(config);
  const minAgeMs = config.reports.minAgeSeconds * 1000;
  const candidates: ReadyReport[] = [];
  for (const entry of await session.list(config.sftp.outboundDir)) {
    if (entry.type !== 'file') continue;
    const kind = reportKindOf(entry.name);
    const unsafe = unsafeNameReason(entry.name);
    const reason = unsafe ?? (pattern.test(entry.name) && kind ? null : 'does not match reports.pattern');
    if (reason) {
      if (!deps.ignored.has(entry.name)) log.warn({ remoteName: JSON.stringify(entry.name.slice(0, MAX_NAME_LENGTH)) }, `remote file left alone: ${reason}`);
      deps.ignored.add(entry.name);
      continue;
    }
    if (deps.now().getTime() - entry.modifiedAt.getTime() < minAgeMs) {
      log.debug({ remoteName: entry.name }, 'report too recent (reports.minAgeSeconds): next run');
      continue;
    }
    candidates.push({ name: entry.name, kind: kind!, size: entry.size, modifiedAt: entry.modifiedAt });
  }
  if (!candidates.length || config.reports.stableCheckSeconds === 0) return sortByName(candidates);
  await deps.sleep(config.reports.stableCheckSeconds * 1000);
  const second = new Map<string, RemoteEntry>((await session.list(config.sftp.outboundDir)).map((e) => [e.name, e]));
  return sortByName(candidates.filter((c) => {
    const again = second.get(c.name);
    const stable = again !== undefined && again.size === c.size && again.modifiedAt.getTime() === c.modifiedAt.getTime();
    if (!stable) log.info({ remoteName: c.name }, 'report still being written (size or time changed): next run');
    return stable;
  }));
}

/** Oldest name first: the bureau's names sort by date and sequence, so reports apply in order. */
function sortByName(reports: ReadyReport[]): ReadyReport[] {
  return reports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
