// The claim: Marked contracts into a new batch, in one transaction (docs/design.md, state `claimed`).
import type { Knex } from 'knex';
import { insertReturningId } from './connection.js';
import { recordEvents, type NewEvent } from './events.js';
import { claimStore, type ClaimStore } from './claim-stores.js';
import { enterMutex, leaveMutex, renewLease } from './lease.js';
import { queueMissingMarked } from './marked.js';
import { listUpToLimit } from '../jobs.js';
import type { PersoPage } from './perso-rows.js';
import { toBatch, type Batch } from './batches.js';
import { whereBureau, type BureauScope } from './bureau-scope.js';

/** A card set aside as Invalid, as reported to the operator. */
export interface InvalidCard {
  contractId: number;
  contractNumber: string;
  plasticId: string;
  reason: string;
}

/** What the claim of a batch is opened with. */
export interface ClaimRequest {
  /** the bureau the batch is for: its daily sequence, its code on the batch; none: a batch without a bureau code */
  bureau?: BureauScope;
  businessDate: string;
  /** the file name of the batch with this daily sequence */
  fileName(sequence: number): string;
  now: string;
  /** how many contracts are read per page (bounded memory); default the database's own */
  pageSize?: number;
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
  /** Marked contracts the claim found missing from marked_contracts (PostgreSQL: its triggers were off) and took in */
  requeued: number;
}

/**
 * The claim of one batch, open: one transaction in which Marked contracts no unsent batch holds are
 * read page by page (stable order by id, row-locked with SKIP LOCKED on PostgreSQL), the valid ones
 * become the batch's records 1..n (the batch is created with the first, with the next daily
 * sequence) and invalid ones become Invalid with their reason. `finish` commits all of it,
 * `abandon` none of it.
 *
 * Every statement goes through one queue, in order, one at a time on the transaction's connection:
 * `addValid` and `setAside` return without waiting for their writes, so the database works while
 * the caller screens the next pages (pages are by id, so the next one does not depend on this one's
 * writes). The first failure fails every later call, and `finish`.
 */
export interface OpenClaim {
  /** contracts per page the database reads best */
  readonly pageSize: number;
  /** up to `limit` Marked contracts free to claim after the contract `afterId`, PANs still encrypted */
  readPage(afterId: number, limit: number): Promise<PersoPage>;
  /**
   * The valid contracts of a page become the batch's next records, in the order of `contractIds`;
   * `contractNumberSum` (decimal) is the sum of their contract numbers (the trailer's hash total).
   * Resolves with the batch once it exists, without waiting for the records' write.
   */
  addValid(contractIds: number[], contractNumberSum: string): Promise<ClaimedBatch>;
  /** these cards become Invalid (reject code INVALID, reason kept), with events; not waited for */
  setAside(cards: InvalidCard[]): void;
  /** extends a lease inside this transaction (lease.ts renewLease): false when it was lost */
  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** the batch's record count and hash total written, then the commit */
  finish(): Promise<ClaimOutcome>;
  /** the rollback: nothing of the claim stays */
  abandon(): Promise<void>;
}

/**
 * Claims run one at a time (a mutex row of `leases` inside the claim's transaction), even without
 * the job's lease. They must: a claim writes only batch_items, and on PostgreSQL (read
 * committed) a statement whose snapshot predates another claim's commit would not see that claim's
 * items, yet could lock its rows once they are released, and take the same cards.
 */
export const CLAIM_MUTEX = 'claim (in a claim transaction only)';

/** Opens the claim's transaction; it waits while another claim is open. */
export async function openClaim(db: Knex, request: ClaimRequest): Promise<OpenClaim> {
  const trx = await db.transaction();
  try {
    await enterMutex(trx, CLAIM_MUTEX);
    const requeued = await queueMissingMarked(trx);
    return new ClaimTransaction(trx, await claimStore(trx), request, requeued);
  } catch (err) {
    await trx.rollback().catch(() => undefined);
    throw err;
  }
}

class ClaimTransaction implements OpenClaim {
  readonly pageSize: number;
  private readonly queue = new StatementQueue();
  private batch: Promise<ClaimedBatch> | undefined;
  private count = 0;
  private hashTotal = 0n;
  private readonly invalid: InvalidCard[] = [];
  private invalidCount = 0;
  private ended = false;

  constructor(
    private readonly trx: Knex.Transaction, private readonly store: ClaimStore, private readonly request: ClaimRequest, private readonly requeued: number,
  ) {
    this.pageSize = request.pageSize ?? store.pageSize;
  }

  readPage(afterId: number, limit: number): Promise<PersoPage> {
    return this.statement(async () => this.store.readPage(afterId, limit));
  }

  addValid(contractIds: number[], contractNumberSum: string): Promise<ClaimedBatch> {
    const batch = (this.batch ??= this.statement(() => insertBatch(this.trx, this.request)));
    const before = this.count;
    this.count += contractIds.length;
    this.hashTotal += BigInt(contractNumberSum);
    if (contractIds.length) this.inBackground(async () => this.store.addItems((await batch).id, before, contractIds));
    return batch;
  }

  setAside(cards: InvalidCard[]): void {
    listUpToLimit(this.invalid, cards);
    this.invalidCount += cards.length;
    if (cards.length) this.inBackground(() => markInvalid(this.trx, cards, this.request.now));
  }

  renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.statement(() => renewLease(this.trx, name, owner, ttlMs));
  }

  async finish(): Promise<ClaimOutcome> {
    try {
      await this.queue.drained();
      const outcome = await this.close();
      this.ended = true;
      await this.trx.commit();
      return outcome;
    } catch (err) {
      await this.abandon();
      throw err;
    }
  }

  async abandon(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.queue.settled();
    await this.trx.rollback().catch(() => undefined);
  }

  /** The batch's totals, and the mutex row gone before the commit. */
  private async close(): Promise<ClaimOutcome> {
    const { invalid, invalidCount, requeued, trx } = this;
    await leaveMutex(trx, CLAIM_MUTEX);
    if (!this.batch) return { batch: null, invalid, invalidCount, requeued };
    const { id } = await this.batch;
    await trx('perso_batches').where({ id })
      .update({ record_count: this.count, hash_total: (this.hashTotal % 10n ** 15n).toString(), updated_at: this.request.now });
    return { batch: toBatch(await trx('perso_batches').where({ id }).first()), invalid, invalidCount, requeued };
  }

  private statement<T>(run: () => Promise<T>): Promise<T> {
    if (this.ended) return Promise.reject(new Error('the claim has ended'));
    return this.queue.add(run);
  }

  /** A write nobody waits for: its failure is kept by the queue and fails the next call. */
  private inBackground(run: () => Promise<unknown>): void {
    this.statement(run).catch(() => undefined);
  }
}

/**
 * Statements of one transaction run one at a time in the order they were added, without the caller
 * waiting for each (the pg driver's own queueing of concurrent queries is deprecated). The first
 * failure is kept: every later statement and `drained` fail with it, so the root cause wins over the
 * errors of the statements that came after it on an aborted transaction.
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

  /** every statement added has run; throws the first failure */
  async drained(): Promise<void> {
    await this.tail;
    if (this.failure) throw this.failure.err;
  }

  /** every statement added has run or failed */
  async settled(): Promise<void> {
    await this.tail;
  }
}

async function insertBatch(trx: Knex.Transaction, request: ClaimRequest): Promise<ClaimedBatch> {
  const sequence = await nextSequence(trx, request.businessDate, request.bureau);
  const fileName = request.fileName(sequence);
  const id = await insertReturningId(trx, 'perso_batches', {
    bureau_code: request.bureau?.code ?? null, business_date: request.businessDate, sequence, file_name: fileName, state: 'claimed',
    record_count: 0, hash_total: '0', attempts: 0, created_at: request.now, updated_at: request.now,
  });
  return { id, sequence, fileName, createdAt: request.now };
}

/** The next daily sequence of a business date (1 for the first file of the day), per bureau when one is given. */
export async function nextSequence(db: Knex | Knex.Transaction, businessDate: string, bureau?: BureauScope): Promise<number> {
  const row = await whereBureau(db('perso_batches').where({ business_date: businessDate }), bureau).max({ max: 'sequence' }).first();
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
