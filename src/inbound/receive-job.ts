import { existsSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import type { Db } from '../db/connection.js';
import { nowIso } from '../db/connection.js';
import { findAppliedReportByClearHash, findReportByHash, markRemoteState, quarantineReport, reportsMovePending, type BureauReportRow } from '../db/reports.js';
import { digestOfFile } from '../crypto/digest.js';
import { ReportSignatureError } from '../crypto/report-signature.js';
import { InputError, PermanentError, TimeLimitError, messageOf } from '../errors.js';
import { maskPansInText } from '../security/mask.js';
import type { Clock, ReceiveJob, ReceiveOptions, ReceiveResult } from '../jobs.js';
import type { Logger } from '../log.js';
import { holdLease } from '../lease/job-lease.js';
import { RemoteDeniedError, withSession, type RemoteSession, type Transport } from '../transport/remote.js';
import { applyReportFile, SendNotFinishedError } from './apply-report.js';
import { makeReportDecryptor, type ReportDecryptor } from './decrypt-report.js';
import { cleanInbox, clearFileOf, downloadReport, keepCopy, removeIfPresent, reportFolders, type DownloadedReport, type ReportFolders } from './local-files.js';
import { readReportHeader, type ReportReadOptions } from './parse-report.js';
import { pickReadyReports, type ReadyReport } from './pick-reports.js';
import { RECEIVE_LEASE, receiveBureau, type ReceiveBureau } from './receive-bureau.js';
import { moveSignatureWith, signatureOf } from './signature-file.js';

/**
 * The receive job, one pass: list → pick ready reports → for each: download (hash) → dedupe by hash
 * → decrypt → parse → apply in one transaction with its bureau_reports row → move the remote file.
 * The remote move comes last: if it fails or we die before it, the next run downloads the file
 * again, finds its hash applied, and only moves it.
 *
 * What is whose fault: every step that reads a report's bytes (decryption, XML, fields, apply
 * rules) throws an InputError for anything wrong with the content, and only an InputError
 * quarantines the report (remote failed/, local copy, row with the reason); the next report is
 * processed. Anything else — disk, permissions, database, network, a time limit — is a local
 * fault: the run fails, the report stays on the server and nothing of it is applied (one
 * transaction), so a later run takes it again. One exception: a report the server refuses us
 * (permission denied) says nothing of the others, so it is left there, the others go on, and the run
 * then fails naming it.
 *
 * Time limits (reports.runTimeLimitSeconds, reports.reportTimeLimitSeconds) stop a stuck run: the
 * steps get an AbortSignal, the apply transaction rolls back, the lease is released and the run
 * fails with a TimeLimitError naming the limit (the daemon alerts on it like on any failure). A
 * report past its own limit is left on the server like a refused one: the others go on, the run
 * then fails naming it, and a later run of the same job takes it after the others.
 */
export interface ReceiveJobDeps {
  db: Db;
  config: Config;
  /** the bureau whose reports this job receives (receive-bureau.ts); default the first configured bureau */
  bureau?: ReceiveBureau;
  transport: Transport;
  log: Logger;
  clock?: Clock;
  /** test seams for fault tests (kill between steps) */
  hooks?: ReceiveHooks;
  sleep?: (ms: number) => Promise<void>;
}

export interface ReceiveHooks {
  afterDownload?(remoteName: string): Promise<void> | void;
  /** the clear XML is in the inbox, nothing applied yet */
  afterDecrypt?(remoteName: string): Promise<void> | void;
  afterApplyGroup?(remoteName: string): Promise<void> | void;
  beforeRemoteMove?(remoteName: string): Promise<void> | void;
  /** the remote file moved (or deleted), its report's remote_state not yet recorded */
  afterRemoteMove?(remoteName: string): Promise<void> | void;
}

export { RECEIVE_LEASE };

export function makeReceiveJob(jobDeps: ReceiveJobDeps): ReceiveJob {
  const bureau = jobDeps.bureau ?? receiveBureau(jobDeps.config);
  // everything bureau-specific (SFTP account and folders, report keys and pins, the header's bureau code) is read from its view
  const deps = { ...jobDeps, bureau, config: bureau.config, log: bureau.first ? jobDeps.log : jobDeps.log.child({ bureau: bureau.code }) };
  const ignored = new Set<string>();
  // reports that ran past their time limit in an earlier run of this process: taken after the others
  const overTime = new Set<string>();
  const decryptor = makeReportDecryptor(deps.config, { log: deps.log });
  return {
    run: (options: ReceiveOptions = {}) => receiveOnce(deps, decryptor, ignored, overTime, options),
  };
}

/** The reports in their order, those that ran past their time limit before moved to the end. */
function lastThoseOverTime<T extends { name: string }>(reports: T[], overTime: ReadonlySet<string>): T[] {
  return [...reports.filter((r) => !overTime.has(r.name)), ...reports.filter((r) => overTime.has(r.name))];
}

type BureauDeps = ReceiveJobDeps & { bureau: ReceiveBureau };

interface RunContext {
  deps: BureauDeps;
  session: RemoteSession;
  folders: ReportFolders;
  decryptor: ReportDecryptor;
  result: ReceiveResult;
  log: Logger;
  /** aborts when the report's or the run's time limit is reached */
  signal: AbortSignal;
  /**
   * Throws when the run's lease ran out (a process frozen past it): another runner may be taking the
   * same reports into the same inbox, so this one neither applies nor quarantines from there.
   */
  assertHeld(): void;
}

async function receiveOnce(deps: BureauDeps, decryptor: ReportDecryptor, ignored: Set<string>, overTime: Set<string>, options: ReceiveOptions): Promise<ReceiveResult> {
  const log = deps.log.child({ job: 'receive' });
  // one receive run per database at a time (daemon and a manual `receive` share the inbox); the
  // content hash alone already prevents a second application
  const lease = await holdLease(deps.db, deps.config.daemon.leaseTtlSeconds * 1000, log, deps.bureau.lease);
  const result: ReceiveResult = { applied: [], quarantined: [], duplicates: 0 };
  const { runTimeLimitSeconds, reportTimeLimitSeconds } = deps.config.reports;
  const runLimit = startTimeLimit(runTimeLimitSeconds, () =>
    `the receive run exceeded its time limit of ${runTimeLimitSeconds} s (reports.runTimeLimitSeconds): stopped, unfinished reports stay on the server for the next run`);
  try {
    const folders = reportFolders(deps.bureau.workDir);
    cleanInbox(folders);
    const now = () => (deps.clock ?? (() => new Date()))();
    await withSession(deps.transport, async (session) => {
      await recordMovesDone(deps, session, log);
      const pick = { config: deps.config, log, now, sleep: deps.sleep ?? ((ms: number) => sleep(ms, undefined, { signal: runLimit.signal })), ignored };
      const ready = lastThoseOverTime(await untilAborted(pickReadyReports(session, pick), runLimit.signal), overTime);
      options.progress?.begin('receiving reports', 'reports', ready.length);
      const left: LeftOnServer = { late: [], denied: [], unfinished: [] };
      for (const report of ready) {
        if (options.signal?.aborted) break;
        lease.assertHeld();
        const reportLimit = startTimeLimit(reportTimeLimitSeconds, () =>
          `report ${report.name} exceeded its time limit of ${reportTimeLimitSeconds} s (reports.reportTimeLimitSeconds): the run is stopped, the report stays on the server for the next run`, runLimit.signal);
        const ctx: RunContext = { deps, session, folders, decryptor, result, log: log.child({ remoteName: report.name }), signal: reportLimit.signal, assertHeld: () => lease.assertHeld() };
        const work = receiveReport(ctx, report);
        try {
          await untilAborted(work, reportLimit.signal);
          overTime.delete(report.name);
          options.progress?.advance(1, report.size);
        } catch (err) {
          if (err instanceof RemoteDeniedError) {
            left.denied.push(report.name);
            ctx.log.error({ err: err.message }, 'report left on the server: the server refuses it to us; the other reports go on');
          } else if (err instanceof SendNotFinishedError) {
            left.unfinished.push(err);
            ctx.log.error({ err: err.message }, 'report left on the server: its file\'s send is not finished; the other reports go on');
          } else if (err instanceof TimeLimitError && !runLimit.signal.aborted) {
            // its own limit, not the run's: a report too slow to finish (or a slow disk) must not keep
            // the ones after it from being received, at every run
            left.late.push(report.name);
            overTime.add(report.name);
            ctx.log.error({ err: err.message }, 'report left on the server: past its time limit; the other reports go on');
            // its steps stop at their next look at the signal: the next report waits for that (its
            // transaction rolled back, SQLite's one connection free), within the run's limit
            await untilAborted(work.then(() => undefined, () => undefined), runLimit.signal);
          } else {
            throw err;
          }
        } finally {
          reportLimit.clear();
        }
      }
      const failure = leftOnServerFailure(left, reportTimeLimitSeconds);
      if (failure) throw failure;
    });
  } catch (err) {
    // a step that stopped because its time limit aborted it fails with the limit, not its own echo of the abort
    throw runLimit.signal.aborted && !(err instanceof TimeLimitError) ? runLimit.signal.reason : err;
  } finally {
    runLimit.clear();
    // a failed release (the database is gone) must not hide why the run failed: the lease expires on its own
    await lease.release().catch((err) => log.warn({ err: messageOf(err) }, 'could not release the receive lease: it expires after daemon.leaseTtlSeconds'));
  }
  log.info({ applied: result.applied.length, quarantined: result.quarantined.length, duplicates: result.duplicates }, 'receive run finished');
  return result;
}

/** The reports a run left on the server while it received the others, by why. */
interface LeftOnServer {
  /** past reports.reportTimeLimitSeconds */
  late: string[];
  /** the server refuses them to us */
  denied: string[];
  /** about a file whose send is not finished */
  unfinished: SendNotFinishedError[];
}

/**
 * The run's failure naming every report it left on the server, or none. Its class is that of the
 * most pressing cause: a time limit (a report that may never finish), a refusal (the bureau must act),
 * a send to finish (the next send does it).
 */
function leftOnServerFailure({ late, denied, unfinished }: LeftOnServer, limitSeconds: number): Error | undefined {
  const parts: string[] = [];
  if (late.length) {
    const [reports, its, them] = late.length === 1 ? ['report', 'its', 'it'] : ['reports', 'their', 'them'];
    parts.push(`${reports} ${late.join(', ')} exceeded ${its} time limit of ${limitSeconds} s (reports.reportTimeLimitSeconds): left on the server, the next run takes ${them} after the others`);
  }
  if (denied.length) parts.push(`the server refused ${denied.length} report(s) to us (permission denied), left there for the next run: ${denied.join(', ')}`);
  for (const err of unfinished) parts.push(err.message);
  if (!parts.length) return undefined;
  const message = `${parts.join('; ')}; the other reports were received`;
  if (late.length) return new TimeLimitError(message);
  return denied.length ? new PermanentError(message) : new SendNotFinishedError(message);
}

interface TimeLimit {
  /** aborts with a TimeLimitError when the limit (or the parent's) is reached */
  signal: AbortSignal;
  clear(): void;
}

function startTimeLimit(seconds: number, message: () => string, parent?: AbortSignal): TimeLimit {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeLimitError(message())), Math.round(seconds * 1000));
  timer.unref();
  const onParent = () => controller.abort(parent!.reason);
  parent?.addEventListener('abort', onParent, { once: true });
  if (parent?.aborted) onParent();
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/**
 * Settles with `work`, or rejects with the signal's reason as soon as it aborts: a step that does not
 * watch the signal itself (a stuck query, a stalled stream) cannot hold the run. The steps that can
 * stop (the download, the decryption, the apply transaction) are given the signal as well, so that
 * what goes on in the background stops at its next check, and an apply rolls back.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function receiveReport(ctx: RunContext, report: ReadyReport): Promise<void> {
  const { deps } = ctx;
  const remotePath = posix.join(deps.config.sftp.outboundDir, report.name);
  const maxEncrypted = encryptedSizeLimit(deps.config.reports.maxClearBytes);
  if (report.size > maxEncrypted) return quarantineUnread(ctx, report, `file of ${report.size} bytes is larger than any report within reports.maxClearBytes could be (${maxEncrypted}): not downloaded`);
  // never more than the listed size: a file still growing must not fill our disk
  const download = await downloadReport(ctx.session, remotePath, report.kind, ctx.folders, { maxBytes: report.size, signal: ctx.signal });
  if (download.size !== report.size || (await changedSinceListing(ctx, remotePath, report))) {
    ctx.log.info({ listed: report.size, downloaded: download.size }, 'report changed while downloading: left for the next run');
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

/** The remote file is no longer what was listed (still being written, replaced). */
async function changedSinceListing(ctx: RunContext, remotePath: string, report: ReadyReport): Promise<boolean> {
  const now = await ctx.session.stat(remotePath);
  return !now || now.size !== report.size || now.modifiedAt.getTime() !== report.modifiedAt.getTime();
}

/** Decrypt, parse and apply; null when the report was quarantined instead, or its content was applied before. */
async function decryptParseApply(ctx: RunContext, report: ReadyReport, download: DownloadedReport, clearFile: string) {
  const { config } = ctx.deps;
  const read: ReportReadOptions = { maxBytes: config.reports.maxClearBytes, issuer: config.issuer.code, bureau: config.bureau.code };
  let stage = 'decryption failed';
  try {
    const signature = signatureOf(ctx.session, posix.join(config.sftp.outboundDir, report.name), report);
    await ctx.decryptor.decrypt(report.kind, download.path, clearFile, signature, ctx.signal);
    await ctx.deps.hooks?.afterDecrypt?.(report.name);
    const clearSha256 = (await digestOfFile(clearFile)).sha256;
    const earlier = await findAppliedReportByClearHash(ctx.deps.db, clearSha256);
    if (earlier) return await contentAppliedBefore(ctx, report, download, earlier);
    stage = 'invalid report';
    const header = await readReportHeader(clearFile, read);
    const localPath = join(ctx.folders.archive, `${download.sha256}.${report.kind}`);
    ctx.assertHeld();
    const applied = await applyReportFile(ctx.deps.db, {
      clearFile, header, remoteName: report.name, sha256: download.sha256, clearSha256, kind: report.kind, localPath,
    }, { bureau: { code: ctx.deps.bureau.code, first: ctx.deps.bureau.first }, read, log: ctx.log, now: nowIso(ctx.deps.clock), signal: ctx.signal, afterGroup: () => ctx.deps.hooks?.afterApplyGroup?.(report.name) });
    keepCopy(download, report.kind, ctx.folders.archive);
    return applied;
  } catch (err) {
    // the one decision: content errors quarantine, everything else fails the run (see above)
    if (!(err instanceof InputError) || ctx.signal.aborted) throw err;
    ctx.assertHeld();
    await quarantine(ctx, report, download, `${err instanceof ReportSignatureError ? 'not authenticated' : stage}: ${err.message}`);
    return null;
  }
}

async function quarantine(ctx: RunContext, report: ReadyReport, download: DownloadedReport, why: string): Promise<void> {
  const reason = maskPansInText(why); // stored and printed, not only logged: no PAN may slip through
  const localPath = keepCopy(download, report.kind, ctx.folders.quarantine);
  const id = await quarantineReport(ctx.deps.db, {
    remoteName: report.name, sha256: download.sha256, kind: report.kind, localPath, error: reason, bureauCode: ctx.deps.bureau.code,
  }, nowIso(ctx.deps.clock));
  ctx.result.quarantined.push({ remoteName: report.name, reason });
  ctx.log.warn({ reportId: id, localCopy: localPath }, `report quarantined: ${reason}`);
  await finishRemote(ctx, report.name, id, download.sha256, 'failed');
}

/**
 * RSA-OAEP grows text by k/(k−42) ≤ 1.2 for k ≥ 256; binary OpenPGP adds little (compression only
 * shrinks), but an ASCII-armored one is base64 with a line break every 64 characters: 4/3 × 65/64 ≈ 1.35.
 */
function encryptedSizeLimit(maxClearBytes: number): number {
  return Math.ceil(maxClearBytes * 1.4) + (1 << 20);
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
 * The same report encrypted again (a new file, the same XML): authenticated and decrypted like any
 * other, then only moved where it belongs, as a file seen before is. No row: the next listing will
 * not show it once it is moved, and should the move fail, the next run finds the content again.
 */
async function contentAppliedBefore(ctx: RunContext, report: ReadyReport, download: DownloadedReport, earlier: BureauReportRow): Promise<null> {
  removeIfPresent(download.path);
  ctx.result.duplicates++;
  ctx.log.info({ reportId: earlier.id, firstSeenAs: earlier.remote_name }, 'report already applied (same content, encrypted again): not applied again');
  // null: the earlier report's row tells where its own file went, not this one's
  await finishRemote(ctx, report.name, null, download.sha256, 'processed');
  return null;
}

/**
 * A run that died between moving a report's remote file and recording it left its row `pending` for
 * ever: the file is no longer in the outbound folder, so no later run downloads it again. Each run
 * first records the move of such a report once its file is where its state sends it (processed/ or
 * failed/, under its name or the name with its hash; gone, for an applied report with
 * sftp.afterApply: delete). A report still in the outbound folder is left to its normal course.
 */
async function recordMovesDone(deps: BureauDeps, session: RemoteSession, log: Logger): Promise<void> {
  const { sftp } = deps.config;
  for (const row of await reportsMovePending(deps.db, deps.bureau)) {
    if (await session.stat(posix.join(sftp.outboundDir, row.remote_name))) continue;
    const outcome = row.state === 'applied' ? 'processed' : 'failed';
    const dir = outcome === 'processed' ? sftp.processedDir : sftp.failedDir;
    const names = [row.remote_name, `${row.remote_name}.${row.sha256.slice(0, 12)}`];
    let found = false;
    for (const name of names) if (!found && (await session.stat(posix.join(dir, name)))) found = true;
    const done = found ? outcome : outcome === 'processed' && sftp.afterApply === 'delete' ? 'deleted' : undefined;
    if (!done) continue;
    await markRemoteState(deps.db, row.id, done, nowIso(deps.clock));
    log.info({ reportId: row.id, remoteName: row.remote_name, remoteState: done }, 'recorded the remote move an earlier run made before it stopped');
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
      await ctx.deps.hooks?.afterRemoteMove?.(name);
      if (reportId !== null) await markRemoteState(ctx.deps.db, reportId, 'deleted', nowIso(ctx.deps.clock));
      return;
    }
    const dir = outcome === 'processed' ? sftp.processedDir : sftp.failedDir;
    let to = posix.join(dir, name);
    if (await ctx.session.stat(to)) to = posix.join(dir, `${name}.${tag.slice(0, 12)}`);
    await moveSignatureWith(ctx.session, from, to);
    if (await ctx.session.stat(to)) await ctx.session.remove(from); // this very content is already there
    else await ctx.session.move(from, to);
    await ctx.deps.hooks?.afterRemoteMove?.(name);
    if (reportId !== null) await markRemoteState(ctx.deps.db, reportId, outcome, nowIso(ctx.deps.clock));
  } catch (err) {
    ctx.log.warn({ reportId, err: messageOf(err) }, `could not move the remote report to ${outcome}: retried next run (it will not apply twice)`);
  }
}
