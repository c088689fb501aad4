import type { Knex } from 'knex';
import type { ReportHeader } from '../domain/report.js';
import { whereBureau, type BureauScope } from './bureau-scope.js';
import { insertReturningId, nowIso } from './connection.js';

/** bureau_reports: one row per distinct report file (sha256), applied or quarantined; an applied report's content once (clear_sha256). */
export interface BureauReportRow {
  id: number;
  /** the name it had on the bureau's server (checked, never used as a local path) */
  remote_name: string;
  /** SHA-256 of the encrypted file: the exactly-once key of a file */
  sha256: string;
  /** SHA-256 of the decrypted XML (migration 010; null before, and on quarantined reports): that of its content, which encryption again does not change */
  clear_sha256: string | null;
  /** encryption: rsa or pgp */
  kind: ReportKind;
  state: 'applied' | 'quarantined';
  /** pending until moved to processed/ or failed/ (or deleted) on the server */
  remote_state: RemoteState;
  /** the bureau it came from (migration 006); null on reports received before, which are the first bureau's */
  bureau_code: string | null;
  /** Header/SourceFile: the personalization file the records refer to */
  source_file: string | null;
  /** Header/ReportDate */
  report_date: string | null;
  /** records applied, by kind */
  rejections: number;
  shipments: number;
  stock_items: number;
  /** records recorded in report_anomalies and not applied */
  anomalies: number;
  /** why it was quarantined */
  error: string | null;
  /** our copy of the encrypted file (workDir/archive/reports or workDir/quarantine) */
  local_path: string | null;
  created_at: string;
  updated_at: string;
}

export type ReportKind = 'rsa' | 'pgp';
export type RemoteState = 'pending' | 'processed' | 'deleted' | 'failed';

/** report_anomalies: a record of a report that was not applied, and why. */
export interface ReportAnomalyRow {
  id: number;
  report_id: number;
  /** element path, e.g. BureauReport/Shipments/Shipment[3] */
  element: string;
  /** as named by the record, canonical (no leading zeros) */
  contract_number: string | null;
  plastic_id: string | null;
  reason: string;
}

export type NewAnomaly = Omit<ReportAnomalyRow, 'id' | 'report_id'>;

export interface ReportCounts {
  rejections: number;
  shipments: number;
  stockItems: number;
  anomalies: number;
}

const MAX_ERROR_CHARS = 2000;

/**
 * How many days past the day of the run (UTC) a report may be dated. Not one: a bureau may date a
 * Friday evening's report by its next business day (after a weekend and a holiday), and a host
 * clock a few days behind must not quarantine every good report. A wrong year is what this stops.
 */
export const REPORT_DATE_AHEAD_DAYS = 7;

/** The latest ReportDate (YYYY-MM-DD) a report received at `now` may bear. */
export function latestReportDate(now: string): string {
  return new Date(Date.parse(now) + REPORT_DATE_AHEAD_DAYS * 86_400_000).toISOString().slice(0, 10);
}

export async function findReportByHash(db: Knex | Knex.Transaction, sha256: string): Promise<BureauReportRow | undefined> {
  return db('bureau_reports').where({ sha256 }).first();
}

/** The applied report of this clear content, if any: the same report the bureau encrypted again. */
export async function findAppliedReportByClearHash(db: Knex | Knex.Transaction, clearSha256: string): Promise<BureauReportRow | undefined> {
  return db('bureau_reports').where({ clear_sha256: clearSha256, state: 'applied' }).first();
}

/**
 * Opens the applied-report row inside the apply transaction: it becomes visible only with the
 * status changes it caused (checkpoint with the work), so a crash leaves neither.
 */
export async function beginAppliedReport(
  trx: Knex.Transaction, report: { remoteName: string; sha256: string; clearSha256: string; kind: ReportKind; localPath: string; header: ReportHeader; bureauCode?: string }, now = nowIso(),
): Promise<number> {
  return insertReturningId(trx, 'bureau_reports', {
    bureau_code: report.bureauCode ?? null, remote_name: report.remoteName, sha256: report.sha256, clear_sha256: report.clearSha256, kind: report.kind, state: 'applied', remote_state: 'pending',
    source_file: report.header.sourceFile || null, report_date: report.header.reportDate, local_path: report.localPath,
    created_at: now, updated_at: now,
  });
}

/** Stores the counts of an applied report, in the same transaction as its changes. */
export async function finishAppliedReport(trx: Knex.Transaction, id: number, counts: ReportCounts, now = nowIso()): Promise<void> {
  await trx('bureau_reports').where({ id }).update({
    rejections: counts.rejections, shipments: counts.shipments, stock_items: counts.stockItems, anomalies: counts.anomalies, updated_at: now,
  });
}

/** Appends anomalies of a report (chunked: SQLite binds at most 999 values per statement). */
export async function recordAnomalies(trx: Knex.Transaction, reportId: number, anomalies: NewAnomaly[]): Promise<void> {
  const rows = anomalies.map((a) => ({ ...a, report_id: reportId }));
  for (let i = 0; i < rows.length; i += 150) await trx('report_anomalies').insert(rows.slice(i, i + 150));
}

/** Records a report that could not be decrypted or parsed; nothing of it was applied. */
export async function quarantineReport(
  db: Knex, report: { remoteName: string; sha256: string; kind: ReportKind; localPath: string; error: string; bureauCode?: string }, now = nowIso(),
): Promise<number> {
  return insertReturningId(db, 'bureau_reports', {
    bureau_code: report.bureauCode ?? null, remote_name: report.remoteName, sha256: report.sha256, kind: report.kind, state: 'quarantined', remote_state: 'pending',
    error: report.error.slice(0, MAX_ERROR_CHARS), local_path: report.localPath, created_at: now, updated_at: now,
  });
}

/**
 * A bureau's reports whose remote move is not recorded as done (remote_state pending), oldest first, at
 * most `limit`: normally none, a few after a run died between its move and the record of it.
 */
export async function reportsMovePending(db: Knex, bureau: BureauScope, limit = 100): Promise<BureauReportRow[]> {
  return whereBureau(db('bureau_reports').where({ remote_state: 'pending' }), bureau).orderBy('id').limit(limit);
}

/** Notes that the remote file was moved (or deleted): the last step of a report. */
export async function markRemoteState(db: Knex, id: number, remoteState: RemoteState, now = nowIso()): Promise<void> {
  await db('bureau_reports').where({ id }).update({ remote_state: remoteState, updated_at: now });
}

export async function anomaliesOf(db: Knex, reportId: number): Promise<ReportAnomalyRow[]> {
  return db('report_anomalies').where({ report_id: reportId }).orderBy('id');
}

/** The quarantined reports (of one bureau when given: the first bureau's also those without a bureau code). */
export async function quarantinedReports(db: Knex, id?: number, bureau?: BureauScope): Promise<BureauReportRow[]> {
  const query = whereBureau(db('bureau_reports').where({ state: 'quarantined' }), bureau).orderBy('id');
  return id === undefined ? query : query.where({ id });
}

/**
 * Forgets a quarantined report (after its file was put back for another try, e.g. once a wrong key
 * was fixed): without the row, the next run processes the same content again. Applied reports are
 * never forgotten.
 */
export async function forgetQuarantinedReport(db: Knex, id: number): Promise<boolean> {
  return (await db('bureau_reports').where({ id, state: 'quarantined' }).delete()) === 1;
}
