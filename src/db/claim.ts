// The claim: Marked contracts into a new batch, in one transaction (docs/design.md, state `claimed`).
import type { Knex } from 'knex';
import { insertReturningId } from './connection.js';
import { recordEvents, type NewEvent } from './events.js';
import { claimStore } from './claim-stores.js';
import { inMutex } from './lease.js';
import { listUpToLimit } from '../jobs.js';
import type { PersoPage } from './perso-rows.js';
import { toBatch, type Batch } from './batches.js';

/** Our own verdict on a page of contracts (ClaimParams.screen). */
export interface PageVerdict {
  /** the valid contracts' ids, in page order: they get the batch's next record numbers */
  validIds: number[];
  /** the sum of their contract numbers, decimal (the trailer's hash total adds these up) */
  contractNumberSum: string;
  /** the others, each with its reason naming the field */
  invalid: InvalidCard[];
}

/** A card set aside as Invalid, as reported to the operator. */
export interface InvalidCard {
  contractId: number;
  contractNumber: string;
  plasticId: string;
  reason: string;
}

export interface ClaimParams {
  businessDate: string;
  maxCards: number;
  /** the file name of the batch with this daily sequence */
  fileName(sequence: number): string;
  /**
   * Our own verdict on the contracts of a page (PANs still encrypted in the page). The next pages are
   * read and handed over before this one's verdict is awaited, so the screening (on a worker thread in
   * the send job) runs beside the claim's own reads and writes.
   */
  screen(page: PersoPage): Promise<PageVerdict>;
  now: string;
  /** how many contracts are read per page (bounded memory) */
  pageSize?: number;
  /** called in the transaction before each page (the job renews its lease there) */
  beforePage?(trx: Knex.Transaction): Promise<void>;
  /**
   * Told, page by page while the transaction is open, how many valid cards were just given their record
   * numbers (the next ones of the batch, in the order `screen` saw them): the job renders and encrypts
   * them on the way, one read of each card instead of two. The claim waits for it (after claiming the
   * next page), and fails (rolls back) when it fails.
   */
  onClaimed?(batch: ClaimedBatch, validCards: number): Promise<void>;
}

/** What a new batch is known by while its claim is still open. */
export interface ClaimedBatch {
  id: number;
  sequence: number;
  fileName: string;
  createdAt: string;
}

export interface ClaimOutcome {
  /** null when no valid card was waiting */
  batch: Batch | null;
  /** contracts set Invalid by this claim */
  invalid: InvalidCard[];
  /** all contracts set Invalid by this claim (`invalid` lists the first INVALID_LISTED of them) */
  invalidCount: number;
}


/** A page read by the claim, its screening under way. */
interface OpenPage {
  page: PersoPage;
  verdict: Promise<PageVerdict>;
}

/**
 * Pages read and handed to the screening ahead of the one being claimed: the screening thread has the
 * next pages at hand while the claim writes, instead of the two threads taking turns. Each costs a
 * page of contracts in memory.
 */
const PAGES_AHEAD = 2;

/**
 * One transaction: takes up to `maxCards` valid Marked contracts no unsent batch holds (stable order by id,
 * row-locked with SKIP LOCKED on PostgreSQL), creates the batch with the next daily sequence and fixes
 * each card's record number 1..n; invalid ones met on the way become Invalid with their reason. Either
 * all of it is committed or none of it.
 *
 * Every statement goes through one queue, in order, one at a time on the transaction's connection,
 * without the loop waiting for the writes: the database works while the next pages are screened (pages
 * are by id, so the next one does not depend on this one's writes). All are awaited before the end,
 * and the first failure fails the claim.
 */
export async function claimBatch(db: Knex, params: ClaimParams): Promise<ClaimOutcome> {
  return db.transaction((trx) => inMutex(trx, CLAIM_MUTEX, () => claimIn(trx, params)));
}

/**
 * Claims run one at a time (a mutex row of `leases` inside the claim's transaction), even without
 * the job's lease. They must: a claim writes only batch_items, and on PostgreSQL (read
 * committed) a statement whose snapshot predates another claim's commit would not see that claim's
 * items, yet could lock its rows once they are released, and take the same cards.
 */
const CLAIM_MUTEX = 'claim (in a claim transaction only)';

async function claimIn(trx: Knex.Transaction, params: ClaimParams): Promise<ClaimOutcome> {
  const store = await claimStore(trx);
  const queue = new StatementQueue();
  const pageSize = params.pageSize ?? store.pageSize;
  const invalid: InvalidCard[] = [];
  let invalidCount = 0;
  let batch: ClaimedBatch | null = null;
  let count = 0;
  let hashTotal = 0n;
  const ahead: OpenPage[] = [];
  let lastRead = 0;
  let exhausted = false;
  // onClaimed of the page before: awaited a page late, so the claim does not wait for each answer
  let previousTold: Promise<void> = Promise.resolve();

  const openPage = async (limit: number): Promise<void> => {
    queue.throwIfFailed();
    // queued together, ahead of the current page's writes: the read does not wait for them
    if (params.beforePage) queue.add(() => params.beforePage!(trx)).catch(() => undefined); // its failure fails the read
    const page = await queue.add(async () => store.readPage(lastRead, limit));
    if (page.count < limit) exhausted = true;
    if (!page.count) return;
    lastRead = page.lastId;
    const verdict = params.screen(page);
    verdict.catch(() => undefined); // awaited when the page is claimed
    ahead.push({ page, verdict });
  };

  // never more contracts read than could still be claimed if all those read are valid
  const readAhead = async (): Promise<void> => {
    while (!exhausted && ahead.length < PAGES_AHEAD) {
      const room = params.maxCards - count - ahead.reduce((n, open) => n + open.page.count, 0);
      if (room <= 0) return;
      await openPage(Math.min(pageSize, room));
    }
  };

  const claimPage = async (page: PersoPage, verdict: PageVerdict): Promise<void> => {
    const valid = verdict.validIds;
    if (valid.length + verdict.invalid.length !== page.count) {
      throw new Error(`screening judged ${valid.length + verdict.invalid.length} contracts of a page of ${page.count}`);
    }
    listUpToLimit(invalid, verdict.invalid);
    invalidCount += verdict.invalid.length;
    if (valid.length) batch ??= await queue.add(() => insertBatch(trx, params));
    const before = count;
    queue.add(async () => {
      await markInvalid(trx, verdict.invalid, params.now);
      if (valid.length) await store.addItems(batch!.id, before, valid);
    }).catch(() => undefined); // rethrown by throwIfFailed() / drained()
    count += valid.length;
    hashTotal += BigInt(verdict.contractNumberSum);
    if (!valid.length || !params.onClaimed) return;
    const told = params.onClaimed(batch!, valid.length);
    told.catch(() => undefined); // awaited after the next page, or at the end
    await previousTold;
    previousTold = told;
  };

  await readAhead();
  while (ahead.length) {
    const { page, verdict } = ahead.shift()!;
    await claimPage(page, await verdict);
    await readAhead();
  }
  await previousTold;
  await queue.drained();
  if (batch === null) return { batch: null, invalid, invalidCount };
  const claimed: ClaimedBatch = batch;
  await trx('perso_batches').where({ id: claimed.id })
    .update({ record_count: count, hash_total: (hashTotal % 10n ** 15n).toString(), updated_at: params.now });
  return { batch: toBatch(await trx('perso_batches').where({ id: claimed.id }).first()), invalid, invalidCount };
}

/**
 * Statements of one transaction run one at a time in the order they were added, without the caller
 * waiting for each (the pg driver's own queueing of concurrent queries is deprecated). The first
 * failure is kept: `drained` and `throwIfFailed` rethrow it, so the root cause wins over the errors of
 * the statements that came after it on an aborted transaction.
 */
class StatementQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private failure: { err: unknown } | undefined;

  add<T>(statement: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (this.failure) throw this.failure.err;
      return statement();
    });
    this.tail = run.catch((err) => {
      this.failure ??= { err };
    });
    return run.catch((err) => {
      throw this.failure?.err ?? err;
    });
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }

  async drained(): Promise<void> {
    await this.tail;
    this.throwIfFailed();
  }
}


async function insertBatch(trx: Knex.Transaction, params: ClaimParams): Promise<ClaimedBatch> {
  const sequence = await nextSequence(trx, params.businessDate);
  const fileName = params.fileName(sequence);
  const id = await insertReturningId(trx, 'perso_batches', {
    business_date: params.businessDate, sequence, file_name: fileName, state: 'claimed',
    record_count: 0, hash_total: '0', attempts: 0, created_at: params.now, updated_at: params.now,
  });
  return { id, sequence, fileName, createdAt: params.now };
}

/** The next daily sequence of a business date (1 for the first file of the day). */
export async function nextSequence(db: Knex | Knex.Transaction, businessDate: string): Promise<number> {
  const row = await db('perso_batches').where({ business_date: businessDate }).max({ max: 'sequence' }).first();
  return Number(row?.max ?? 0) + 1;
}

/** In the caller's transaction: the cards become Invalid (reject code INVALID, reason kept), with events. */
export async function markInvalid(trx: Knex.Transaction, cards: InvalidCard[], now: string): Promise<void> {
  for (const card of cards) {
    await trx('card_contracts').where({ id: card.contractId, production_status: 'Marked' })
      .update({ production_status: 'Invalid', reject_code: 'INVALID', reject_reason: card.reason, updated_at: now });
  }
  const events: NewEvent[] = cards.map((c) => ({
    contract_id: c.contractId, from_status: 'Marked', to_status: 'Invalid', source_kind: 'validation', source_id: null, detail: c.reason,
  }));
  await recordEvents(trx, events, now);
}
