import { existsSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import type { Db } from '../db/connection.js';
import { nowIso } from '../db/connection.js';
import { findReportByHash, markRemoteState, quarantineReport, type BureauReportRow } from '../db/reports.js';
import { ReportSignatureError } from '../crypto/report-signature.js';
import { InputError, messageOf } from '../errors.js';
import { maskPansInText } from '../security/mask.js';
import type { Clock, ReceiveJob, ReceiveOptions, ReceiveResult } from '../jobs.js';
import type { Logger } from '../log.js';
import { holdLease } from '../outbound/lease.js';
import { withSession, type RemoteSession, type Transport } from '../transport/remote.js';
import { applyReportFile } from './apply-report.js';
import { makeReportDecryptor, type ReportDecryptor } from './decrypt-report.js';
import { cleanInbox, clearFileOf, downloadReport, keepCopy, removeIfPresent, reportFolders, type DownloadedReport, type ReportFolders } from './local-files.js';
import { readReportHeader, type ReportReadOptions } from './parse-report.js';
import { pickReadyReports, type ReadyReport } from './pick-reports.js';
import { moveSignatureWith, signatureOf } from './signature-file.js';

/**
 * The receive job, one pass: list → pick ready reports → for each: download (hash) → dedupe by hash
 * → decrypt → parse → apply in one transaction with its bureau_reports row → move the remote file.
 * The remote move comes last: if it fails or we die before it, the next run downloads the file
 * again, finds its hash applied, and only moves it. A report that does not decrypt or parse is
 * quarantined (remote failed/, local copy, row with the reason) and the next one is processed.
 */
export interface ReceiveJobDeps {
  db: Db;
  config: Config;
  transport: Transport;
  log: Logger;
  clock?: Clock;
  /** test seams for fault tests (kill between steps) */
  hooks?: ReceiveHooks;
  sleep?: (ms: number) => Promise<void>;
}

export interface ReceiveHooks {
  afterDownload?(remoteName: string): Promise<void> | void;
  afterApplyGroup?(remoteName: string): Promise<void> | void;
  beforeRemoteMove?(remoteName: string): Promise<void> | void;
}

export const RECEIVE_LEASE = 'receive';

export function makeReceiveJob(deps: ReceiveJobDeps): ReceiveJob {
  const ignored = new Set<string>();
  const decryptor = makeReportDecryptor(deps.config, { log: deps.log });
  return {
    run: (options: ReceiveOptions = {}) => receiveOnce(deps, decryptor, ignored, options),
  };
}

interface RunContext {
  deps: ReceiveJobDeps;
  session: RemoteSession;
  folders: ReportFolders;
  decryptor: ReportDecryptor;
  result: ReceiveResult;
  log: Logger;
}

async function receiveOnce(deps: ReceiveJobDeps, decryptor: ReportDecryptor, ignored: Set<string>, options: ReceiveOptions): Promise<ReceiveResult> {
  const log = deps.log.child({ job: 'receive' });
  // one receive run per database at a time (daemon and a manual `receive` share the inbox); the
  // content hash alone already prevents a second application
  const lease = await holdLease(deps.db, deps.config.daemon.leaseTtlSeconds * 1000, log, RECEIVE_LEASE);
  const result: ReceiveResult = { applied: [], quarantined: [], duplicates: 0 };
  try {
    const folders = reportFolders(deps.config.workDir);
    cleanInbox(folders);
    const now = () => (deps.clock ?? (() => new Date()))();
    await withSession(deps.transport, async (session) => {
      const ready = await pickReadyReports(session, { config: deps.config, log, now, sleep: deps.sleep ?? ((ms) => sleep(ms)), ignored });
      for (const report of ready) {
        if (options.signal?.aborted) break;
        lease.assertHeld();
        await receiveReport({ deps, session, folders, decryptor, result, log: log.child({ remoteName: report.name }) }, report);
      }
    });
  } finally {
    await lease.release();
  }
  log.info({ applied: result.applied.length, quarantined: result.quarantined.length, duplicates: result.duplicates }, 'receive run finished');
  return result;
}

async function receiveReport(ctx: RunContext, report: ReadyReport): Promise<void> {
  const { deps } = ctx;
  const remotePath = posix.join(deps.config.sftp.outboundDir, report.name);
  const maxEncrypted = encryptedSizeLimit(deps.config.reports.maxClearBytes);
  if (report.size > maxEncrypted) return quarantineUnread(ctx, report, `file of ${report.size} bytes is larger than any report within reports.maxClearBytes could be (${maxEncrypted}): not downloaded`);
  const download = await downloadReport(ctx.session, remotePath, report.kind, ctx.folders);
  if (download.size !== report.size) {
    ctx.log.info({ listed: report.size, downloaded: download.size }, 'report changed while downloading: next run');
    removeIfPresent(download.path);
    return;
  }
  await deps.hooks?.afterDownload?.(report.name);
  const existing = await findReportByHash(deps.db, download.sha256);
  if (existing) return handleKnownReport(ctx, report, download, existing);
  const clearFile = clearFileOf(download, ctx.folders);
  try {
    const applied = await decryptParseApply(ctx, report, download, clearFile);
    if (!applied) return;
    ctx.result.applied.push({ remoteName: report.name, ...applied.counts });
    ctx.log.info({ reportId: applied.reportId, ...applied.counts }, 'report applied');
    await deps.hooks?.beforeRemoteMove?.(report.name);
    await finishRemote(ctx, report.name, applied.reportId, download.sha256, 'processed');
  } finally {
    removeIfPresent(clearFile);
  }
}

/** Decrypt, parse and apply; null when the report was quarantined instead. */
async function decryptParseApply(ctx: RunContext, report: ReadyReport, download: DownloadedReport, clearFile: string) {
  const { config } = ctx.deps;
  const read: ReportReadOptions = { maxBytes: config.reports.maxClearBytes, issuer: config.issuer.code, bureau: config.bureau.code };
  let stage = 'decryption failed';
  try {
    const signature = signatureOf(ctx.session, posix.join(config.sftp.outboundDir, report.name), report);
    await ctx.decryptor.decrypt(report.kind, download.path, clearFile, signature);
    stage = 'invalid report';
    const header = await readReportHeader(clearFile, read);
    const localPath = join(ctx.folders.archive, `${download.sha256}.${report.kind}`);
    const applied = await applyReportFile(ctx.deps.db, {
      clearFile, header, remoteName: report.name, sha256: download.sha256, kind: report.kind, localPath,
    }, { read, log: ctx.log, now: nowIso(ctx.deps.clock), afterGroup: () => ctx.deps.hooks?.afterApplyGroup?.(report.name) });
    keepCopy(download, report.kind, ctx.folders.archive);
    return applied;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    await quarantine(ctx, report, download, `${err instanceof ReportSignatureError ? 'not authenticated' : stage}: ${err.message}`);
    return null;
  }
}

async function quarantine(ctx: RunContext, report: ReadyReport, download: DownloadedReport, why: string): Promise<void> {
  const reason = maskPansInText(why); // stored and printed, not only logged: no PAN may slip through
  const localPath = keepCopy(download, report.kind, ctx.folders.quarantine);
  const id = await quarantineReport(ctx.deps.db, { remoteName: report.name, sha256: download.sha256, kind: report.kind, localPath, error: reason }, nowIso(ctx.deps.clock));
  ctx.result.quarantined.push({ remoteName: report.name, reason });
  ctx.log.warn({ reportId: id, localCopy: localPath }, `report quarantined: ${reason}`);
  await finishRemote(ctx, report.name, id, download.sha256, 'failed');
}

/** RSA-OAEP grows text by k/(k−42) ≤ 1.2 for k ≥ 256; OpenPGP adds little (compression only shrinks). */
function encryptedSizeLimit(maxClearBytes: number): number {
  return Math.ceil(maxClearBytes * 1.2) + (1 << 20);
}

/** A file too large to be a report: never downloaded (it could fill the disk), moved to failed/ remotely. */
async function quarantineUnread(ctx: RunContext, report: ReadyReport, reason: string): Promise<void> {
  ctx.result.quarantined.push({ remoteName: report.name, reason });
  ctx.log.warn(`report quarantined: ${reason}`);
  await finishRemote(ctx, report.name, null, `${report.size}`, 'failed');
}

/** Same content seen before: never applied again, only moved where it belongs. */
async function handleKnownReport(ctx: RunContext, report: ReadyReport, download: DownloadedReport, existing: BureauReportRow): Promise<void> {
  if (existing.local_path && !existsSync(existing.local_path)) keepCopy(download, report.kind, dirname(existing.local_path));
  else removeIfPresent(download.path);
  if (existing.state === 'applied') {
    ctx.result.duplicates++;
    ctx.log.info({ reportId: existing.id, firstSeenAs: existing.remote_name }, 'report already applied (same content): not applied again');
    await finishRemote(ctx, report.name, existing.id, download.sha256, 'processed');
  } else {
    const reason = `already quarantined: ${existing.error ?? ''}`;
    ctx.result.quarantined.push({ remoteName: report.name, reason });
    ctx.log.warn({ reportId: existing.id }, `report ${reason}`);
    await finishRemote(ctx, report.name, existing.id, download.sha256, 'failed');
  }
}

/**
 * Moves the remote file to processed/ or failed/ (or deletes an applied one, by config). A failure
 * is logged and left for the next run: the content hash keeps the report from applying twice.
 */
async function finishRemote(ctx: RunContext, name: string, reportId: number | null, tag: string, outcome: 'processed' | 'failed'): Promise<void> {
  const { sftp } = ctx.deps.config;
  const from = posix.join(sftp.outboundDir, name);
  try {
    if (outcome === 'processed' && sftp.afterApply === 'delete') {
      await moveSignatureWith(ctx.session, from, null);
      await ctx.session.remove(from);
      if (reportId !== null) await markRemoteState(ctx.deps.db, reportId, 'deleted', nowIso(ctx.deps.clock));
      return;
    }
    const dir = outcome === 'processed' ? sftp.processedDir : sftp.failedDir;
    let to = posix.join(dir, name);
    if (await ctx.session.stat(to)) to = posix.join(dir, `${name}.${tag.slice(0, 12)}`);
    await moveSignatureWith(ctx.session, from, to);
    if (await ctx.session.stat(to)) await ctx.session.remove(from); // this very content is already there
    else await ctx.session.move(from, to);
    if (reportId !== null) await markRemoteState(ctx.deps.db, reportId, outcome, nowIso(ctx.deps.clock));
  } catch (err) {
    ctx.log.warn({ reportId, err: messageOf(err) }, `could not move the remote report to ${outcome}: retried next run (it will not apply twice)`);
  }
}
