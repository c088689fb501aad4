import { canonicalId } from '../domain/contract.js';
import { recordEvents, type NewEvent } from '../db/events.js';
import {
  bureausSentTo, contractsByRecordNumber, contractsInBatch, findBatchByFileName, isDeadlock, lastReportDates, lockContracts, markRejected, markShipped, type ReportedContract, type RejectionUpdate, type ShipmentUpdate, type SourceBatch,
} from '../db/report-contracts.js';
import { isBureausRow, rowBureau, type BureauScope } from '../db/bureau-scope.js';
import type { Db, DbTransaction } from '../db/connection.js';
import { beginAppliedReport, finishAppliedReport, latestReportDate, recordAnomalies, REPORT_DATE_AHEAD_DAYS, type NewAnomaly, type ReportCounts, type ReportKind } from '../db/reports.js';
import { upsertStockLevels } from '../db/stock.js';
import { canTransition, type ProductionStatus } from '../domain/contract-status.js';
import { AppError, InputError } from '../errors.js';
import type { Logger } from '../log.js';
import { looksLikePan, maskPan, maskPansInText } from '../security/mask.js';
import { readReportRecords, type RecordGroup, type ReportReadOptions } from './parse-report.js';
import type { RejectionRecord, ReportHeader, ShipmentRecord } from './report-format.js';

/** Anomalies logged one by one; beyond that only counted (a report of unknown contracts must not flood the log). */
const LOGGED_ANOMALIES = 20;

export interface ApplyContext {
  trx: DbTransaction;
  reportId: number;
  header: ReportHeader;
  now: string;
  log: Logger;
  /** the bureau the report came from: its records apply only to cards sent to it; absent, the first bureau's without a check (one bureau) */
  bureau?: BureauScope;
  /** called after each group is applied (inside the transaction): progress, and fault tests */
  afterGroup?: () => Promise<void> | void;
}

export interface ReportFile {
  /** the decrypted XML */
  clearFile: string;
  header: ReportHeader;
  remoteName: string;
  sha256: string;
  /** SHA-256 of clearFile: an applied report's content is never applied again */
  clearSha256: string;
  kind: ReportKind;
  /** our copy of the encrypted file */
  localPath: string;
}

/**
 * Applies a decrypted report in ONE transaction, together with its bureau_reports row (state
 * applied, counts): all or nothing, and the content hash makes a second application impossible.
 * A parse error in the middle throws an InputError and rolls everything back.
 * A report whose source file is one of ours whose send is not finished throws a
 * SendNotFinishedError, with nothing written: not the report's fault, it is taken again later.
 * A transaction the database ends to break a deadlock is tried again (APPLY_ATTEMPTS in all).
 */
export async function applyReportFile(
  db: Db, report: ReportFile,
  options: { read: ReportReadOptions; log: Logger; now: string; bureau?: BureauScope; afterGroup?: () => Promise<void> | void; signal?: AbortSignal },
): Promise<{ reportId: number; counts: ReportCounts }> {
  const { signal } = options;
  checkReportDate(report.header, options.now);
  await checkSendFinished(db, report);
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyOnce(db, report, options);
    } catch (err) {
      // the card system writes the same cards beside us: a deadlock with it ended our transaction, which
      // wrote nothing; the next attempt waits for its commit and reads the cards as it left them
      if (!isDeadlock(err) || attempt >= APPLY_ATTEMPTS || signal?.aborted) throw err;
      options.log.warn({ remoteName: report.remoteName, attempt }, 'the apply met a deadlock with another writer of the cards: tried again');
    }
  }
}

/** Attempts at applying a report whose transaction the database ended to break a deadlock. */
const APPLY_ATTEMPTS = 3;

async function applyOnce(db: Db, report: ReportFile, options: Parameters<typeof applyReportFile>[2]): Promise<{ reportId: number; counts: ReportCounts }> {
  const { signal, bureau } = options;
  return db.transaction(async (trx) => {
    signal?.throwIfAborted();
    const reportId = await beginAppliedReport(trx, { ...report, bureauCode: bureau?.code }, options.now);
    // an abort (time limit) between groups throws inside the transaction: all of it rolls back
    const afterGroup = async () => {
      signal?.throwIfAborted();
      await options.afterGroup?.();
    };
    const ctx = { trx, reportId, header: report.header, now: options.now, log: options.log, bureau, afterGroup };
    const counts = await applyReport(ctx, readAhead(readReportRecords(report.clearFile, report.header, options.read)));
    await finishAppliedReport(trx, reportId, counts, options.now);
    signal?.throwIfAborted();
    return { reportId, counts };
  });
}

/**
 * A report dated far in the future is refused (quarantined): its stock levels would be kept as the
 * newest ("an older report never overwrites a newer level"), so every real report after it would
 * leave the stock page and the low-stock alert frozen at its numbers until that date.
 */
function checkReportDate(header: ReportHeader, now: string): void {
  const latest = latestReportDate(now);
  if (header.reportDate > latest) {
    throw new InputError(`BureauReport/Header/ReportDate: ${header.reportDate} is in the future (latest accepted ${latest}, ${REPORT_DATE_AHEAD_DAYS} days after today in UTC)`);
  }
}

/** A report on a file of ours whose send is not finished: neither applied nor quarantined, taken again by a later run. */
export class SendNotFinishedError extends AppError {
  override name = 'SendNotFinishedError';
}

/**
 * The file the report's SourceFile names may be on the bureau's server (uploaded, or renamed there
 * before a crash or a failed confirm) while its batch is not `sent` and its cards wait for the confirm
 * that makes them InProduction. Applied now, every record would be an anomaly and its rejections and
 * shipments lost for good; refused as a local fault, the report stays on the server and applies once
 * the send has confirmed the batch.
 */
async function checkSendFinished(db: Db, report: ReportFile): Promise<void> {
  if (!report.header.sourceFile) return;
  const batch = await findBatchByFileName(db, report.header.sourceFile);
  if (batch && batch.state !== 'sent') {
    throw new SendNotFinishedError(`report ${report.remoteName} is about ${batch.file_name}, whose send is not finished (batch ${batch.id} is ${batch.state}): `
      + 'left on the server, it applies once the send has confirmed that batch');
  }
}

/**
 * Parses the next group while the database works on the current one (PostgreSQL and MariaDB do
 * their part in another process, so parsing and writing overlap).
 */
async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = it.next();
      next.catch(() => undefined); // awaited on the next turn; a failure then surfaces there
      yield current.value;
    }
  } finally {
    await next.catch(() => undefined);
    await it.return?.(undefined);
  }
}

/**
 * Applies the records of one report inside the caller's transaction: rejections → Rejected,
 * shipments → Shipped, stock → plastic_stock. A record naming a contract that was not in the
 * source file, or asking for a transition the status rules forbid, becomes an anomaly (recorded,
 * counted, logged) and the rest still applies. Every status change writes a contract event.
 */
export async function applyReport(ctx: ApplyContext, groups: AsyncIterable<RecordGroup>): Promise<ReportCounts> {
  const counts: ReportCounts = { rejections: 0, shipments: 0, stockItems: 0, anomalies: 0 };
  const batch = ctx.header.sourceFile ? await findBatchByFileName(ctx.trx, ctx.header.sourceFile) : undefined;
  if (batch && ctx.header.recordsReceived !== null && ctx.header.recordsReceived !== batch.record_count) {
    ctx.log.warn({ sourceFile: batch.file_name, recordsReceived: ctx.header.recordsReceived, recordsSent: batch.record_count },
      'the bureau reports receiving a different number of records than the file held');
  }
  for await (const group of groups) {
    if (group.list === 'Stock') {
      const low = await upsertStockLevels(ctx.trx, group.records, { id: ctx.reportId, date: ctx.header.reportDate }, ctx.now, ctx.bureau);
      for (const item of low) ctx.log.warn({ bureau: ctx.bureau?.code, productCode: item.productCode, closing: item.closing, minStock: item.minStock }, 'plastic stock below its minimum');
      counts.stockItems += group.records.length;
    } else {
      const anomalies = await applyContractGroup(ctx, batch, group, counts);
      await recordAnomalies(ctx.trx, ctx.reportId, anomalies);
      for (const a of anomalies) {
        if (++counts.anomalies <= LOGGED_ANOMALIES) ctx.log.warn({ reportId: ctx.reportId, element: a.element, contract: a.contract_number, plastic: a.plastic_id }, `report anomaly: ${a.reason}`);
      }
    }
    await ctx.afterGroup?.();
  }
  if (counts.anomalies > LOGGED_ANOMALIES) ctx.log.warn({ reportId: ctx.reportId, anomalies: counts.anomalies }, `report anomalies: ${counts.anomalies - LOGGED_ANOMALIES} more not logged one by one`);
  return counts;
}

type ContractGroup = Exclude<RecordGroup, { list: 'Stock' }>;

/** Decides each record of a group against the contracts' current state, then writes the changes set-based. */
async function applyContractGroup(ctx: ApplyContext, batch: SourceBatch | undefined, group: ContractGroup, counts: ReportCounts): Promise<NewAnomaly[]> {
  const anomalies: NewAnomaly[] = [];
  const records = group.records as Array<RejectionRecord | ShipmentRecord>;
  const elsewhere = batch && sentElsewhere(batch, ctx.bureau);
  const find: Finder = batch && !elsewhere ? await contractFinder(ctx.trx, batch, records, ctx.bureau) : () => ({ contract: undefined, otherPlastic: false });
  const newerReport = group.list === 'Shipments' ? await newerReportDates(ctx, records.map((r) => find(r).contract)) : new Map<number, string>();
  const changed = new Map<number, ReportedContract>();
  const events: NewEvent[] = [];
  for (const record of records) {
    const contractNumber = canonicalId(record.cardContractId);
    const plasticId = canonicalId(record.plasticId);
    const { contract, otherPlastic, sentTo } = find(record);
    // an identifier that names none of our cards is only what the file says, and may be a PAN: the
    // anomaly is stored and shown, so such a number is masked there (our own cards' numbers are kept,
    // for the card's story); the reason is masked whole, as a log line would be
    const ours = { contract: Boolean(contract) || otherPlastic || sentTo !== undefined, plastic: Boolean(contract) };
    const anomaly = (reason: string) => anomalies.push({
      element: record.path, contract_number: shownId(contractNumber, ours.contract), plastic_id: shownId(plasticId, ours.plastic), reason: maskPansInText(reason),
    });
    if (!batch) {
      anomaly(`source file ${ctx.header.sourceFile} is not one of our personalization files`);
      continue;
    }
    if (elsewhere) {
      anomaly(`contract ${contractNumber}: ${elsewhere}`);
      continue;
    }
    if (!contract) {
      const where = sentTo === undefined ? '' : `: it was sent to bureau ${bureauNamed(sentTo)}, not to bureau ${ctx.bureau!.code} whose report this is`;
      anomaly(otherPlastic ? `plastic ${plasticId} is not the plastic of contract ${contractNumber} in ${batch.file_name}` : `contract ${contractNumber} was not in ${batch.file_name}${where}`);
      continue;
    }
    if (contract.batch_id !== batch.id) {
      anomaly(`contract ${contractNumber} has since been sent again in another batch (${contract.batch_id ?? 'none'}): this report is out of date for it`);
      continue;
    }
    const newer = newerReport.get(contract.id);
    if (newer) {
      anomaly(`shipment of a report dated ${ctx.header.reportDate}, older than the report dated ${newer} that last changed contract ${contractNumber}: not applied`);
      continue;
    }
    const next = group.list === 'Rejections' ? rejected(contract, record as RejectionRecord) : shipped(contract, record as ShipmentRecord);
    if (typeof next === 'string') {
      anomaly(next);
      continue;
    }
    if (group.list === 'Rejections') counts.rejections++;
    else counts.shipments++;
    if (!next) continue; // the same shipment again: nothing changes
    events.push({ contract_id: contract.id, from_status: contract.production_status, to_status: next.state.production_status, source_kind: 'report', source_id: ctx.reportId, detail: next.detail });
    Object.assign(contract, next.state);
    changed.set(contract.id, contract);
  }
  await writeChanges(ctx, group.list, [...changed.values()], events);
  return anomalies;
}

/**
 * The shipped cards among `contracts` that a report dated after this one already changed, with that
 * date. A report uploaded late (yesterday's after today's) otherwise put back yesterday's expected
 * date, courier and tracking number over today's: the card ends as the newest report says.
 */
async function newerReportDates(ctx: ApplyContext, contracts: Array<ReportedContract | undefined>): Promise<Map<number, string>> {
  const shipped = contracts.filter((c): c is ReportedContract => c?.production_status === 'Shipped').map((c) => c.id);
  if (!shipped.length) return new Map();
  const dates = await lastReportDates(ctx.trx, shipped);
  return new Map([...dates].filter(([, date]) => date > ctx.header.reportDate));
}

/** An identifier as an anomaly stores it: a PAN-like number that is not one of our cards' is masked. */
function shownId(id: string, ours: boolean): string {
  return ours || !looksLikePan(id) ? id : maskPan(id);
}

/**
 * Why the cards of `batch` are not this bureau's to report on (a bureau reports only on the cards sent
 * to it), or undefined when they are. A batch without a bureau code went to the first bureau.
 */
function sentElsewhere(batch: SourceBatch, bureau: BureauScope | undefined): string | undefined {
  if (!bureau || isBureausRow(batch.bureau_code, bureau)) return undefined;
  return `${batch.file_name} was sent to bureau ${bureauNamed(batch.bureau_code)}, not to bureau ${bureau.code} whose report this is: not applied`;
}

/** A bureau code in a message: a row without one is the first bureau's, whose code the report's bureau may not know. */
function bureauNamed(code: string | null): string {
  return rowBureau(code, '(the first bureau)');
}

/** The contract a record names in the source batch; for one not there, the other bureau it was sent to, if any (`sentTo`, null: the first bureau). */
type Finder = (record: RejectionRecord | ShipmentRecord) => { contract: ReportedContract | undefined; otherPlastic: boolean; sentTo?: string | null };

/**
 * Finds the contract each record names among the items of the source batch: first by record
 * number (RecordSequence, an index range), then by contract number for records whose sequence
 * does not point at them. One object per contract, so two records of one contract see each other.
 */
async function contractFinder(trx: DbTransaction, batch: SourceBatch, records: Array<RejectionRecord | ShipmentRecord>, bureau?: BureauScope): Promise<Finder> {
  const key = (contractNumber: string, plasticId: string) => `${contractNumber}/${plasticId}`;
  const keyOf = (r: RejectionRecord | ShipmentRecord) => key(canonicalId(r.cardContractId), canonicalId(r.plasticId));
  const bySequence = await contractsByRecordNumber(trx, batch.id, records.map((r) => r.recordSequence));
  const byKey = new Map<string, ReportedContract>([...bySequence.values()].map((c) => [key(c.contract_number, c.plastic_id), c]));
  const misses = records.filter((r) => !byKey.has(keyOf(r)));
  const numbersSeen = new Set<string>();
  if (misses.length) {
    for (const c of await contractsInBatch(trx, batch.id, misses.map((r) => canonicalId(r.cardContractId)))) {
      if (!byKey.has(key(c.contract_number, c.plastic_id))) byKey.set(key(c.contract_number, c.plastic_id), c);
      numbersSeen.add(c.contract_number);
    }
  }
  // a contract not in the file at all: sent to another bureau? (only looked up for such records, rare)
  const absent = misses.map((r) => canonicalId(r.cardContractId)).filter((n) => !numbersSeen.has(n));
  const elsewhere = bureau && absent.length ? await bureausSentTo(trx, absent) : new Map<string, string | null>();
  await lockChangeable(trx, records.map((r) => byKey.get(keyOf(r))));
  return (record) => {
    const contract = byKey.get(keyOf(record));
    const number = canonicalId(record.cardContractId);
    const sentTo = elsewhere.get(number);
    return { contract, otherPlastic: !contract && numbersSeen.has(number), ...(sentTo !== undefined && !isBureausRow(sentTo, bureau!) ? { sentTo } : {}) };
  };
}

/**
 * Locks the cards the records name that a report may change (InProduction, Shipped) and reads them
 * again, in place: the card system may have changed one since the look-up (see lockContracts).
 */
async function lockChangeable(trx: DbTransaction, named: Array<ReportedContract | undefined>): Promise<void> {
  const changeable = [...new Set(named)].filter((c): c is ReportedContract => c?.production_status === 'InProduction' || c?.production_status === 'Shipped');
  const current = await lockContracts(trx, changeable.map((c) => c.id));
  for (const c of changeable) Object.assign(c, current.get(c.id));
}

type Decision = string | null | { state: Partial<ReportedContract> & { production_status: ProductionStatus }; detail: string };

function refusal(contract: ReportedContract, to: ProductionStatus, what: string): string | undefined {
  // a card the bureau has shipped (its ship date reported) cannot be rejected any more; one it only
  // announced (an expected date) can: left Shipped, it could never be marked again, its order lost
  if (to === 'Rejected' && contract.production_status === 'Shipped' && contract.ship_date !== null) {
    return `${what} after shipment: contract ${contract.contract_number} is already Shipped (${contract.ship_date})`;
  }
  if (canTransition(contract.production_status, to)) return undefined;
  return `${what} not allowed: contract ${contract.contract_number} is ${contract.production_status}`;
}

/** Rejected with code and reason, or why not (a string). */
function rejected(contract: ReportedContract, r: RejectionRecord): Decision {
  const refused = refusal(contract, 'Rejected', 'rejection');
  if (refused) return refused;
  const state = { production_status: 'Rejected' as const, reject_code: r.code, reject_reason: r.reason };
  return { state, detail: `rejected ${r.code}: ${r.reason}`.slice(0, 500) };
}

/** Shipped, merging what an earlier report said (a later report adds the actual date); null when nothing changes. */
function shipped(contract: ReportedContract, s: ShipmentRecord): Decision {
  const refused = refusal(contract, 'Shipped', 'shipment');
  if (refused) return refused;
  const state = {
    production_status: 'Shipped' as const,
    expected_ship_date: s.expectedShipDate ?? contract.expected_ship_date,
    ship_date: s.shipDate ?? contract.ship_date,
    courier: s.courier || contract.courier,
    tracking_number: s.trackingNumber || contract.tracking_number,
  };
  const same = contract.production_status === 'Shipped' && (Object.keys(state) as Array<keyof typeof state>).every((k) => state[k] === contract[k]);
  if (same) return null;
  const via = [state.courier, state.tracking_number].filter(Boolean).join(' ');
  // each field was masked on its own: side by side, the end of one and the start of the other can make a PAN
  const detail = (state.ship_date ? `shipped ${state.ship_date}` : `shipment expected ${state.expected_ship_date}`) + (via ? ` via ${via}` : '');
  return { state, detail: maskPansInText(detail) };
}

async function writeChanges(ctx: ApplyContext, list: ContractGroup['list'], changed: ReportedContract[], events: NewEvent[]): Promise<void> {
  if (list === 'Rejections') {
    await markRejected(ctx.trx, changed.map((c): RejectionUpdate => ({ id: c.id, code: c.reject_code ?? '', reason: c.reject_reason ?? '' })), ctx.now);
  } else {
    const updates: ShipmentUpdate[] = changed.map((c) => ({
      id: c.id, expectedShipDate: c.expected_ship_date, shipDate: c.ship_date, courier: c.courier, trackingNumber: c.tracking_number,
    }));
    await markShipped(ctx.trx, updates, ctx.now);
  }
  await recordEvents(ctx.trx, events, ctx.now);
}
