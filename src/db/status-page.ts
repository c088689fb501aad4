import type { Knex } from 'knex';
import { rowBureau } from './bureau-scope.js';
import { markedContracts } from './marked.js';
import { NOT_IN_UNSENT_BATCH } from './unsent-batch.js';

/** The cards of the batches of one business date, by what became of them. */
export interface CardsOfDay {
  businessDate: string;
  /** every card claimed into a batch of the date */
  claimed: number;
  /** in a batch not sent yet (claimed, encrypted or uploaded) */
  sending: number;
  /** the bureau has them and has not answered yet */
  inProduction: number;
  /** reported shipped (with a ship date) or announced (expected date only) */
  shipped: number;
  rejected: number;
}

/**
 * Cards per business date of their batch, the latest `days` dates. A card rejected and sent again
 * counts in both batches: as rejected in the first (its row now names the later batch).
 */
export async function cardsPerBusinessDay(db: Knex, days = 30): Promise<CardsOfDay[]> {
  const rows: any[] = await db('batch_items as i')
    .join('perso_batches as b', 'b.id', 'i.batch_id')
    .join('card_contracts as c', 'c.id', 'i.contract_id')
    .groupBy('b.business_date').orderBy('b.business_date', 'desc').limit(days)
    .select('b.business_date')
    .count({ claimed: '*' })
    .select(db.raw(`sum(case when b.state <> 'sent' then 1 else 0 end) as sending`))
    .select(db.raw(`sum(case when b.state = 'sent' and c.batch_id = b.id and c.production_status = 'InProduction' then 1 else 0 end) as in_production`))
    .select(db.raw(`sum(case when b.state = 'sent' and c.batch_id = b.id and c.production_status = 'Shipped' then 1 else 0 end) as shipped`))
    .select(db.raw(`sum(case when b.state = 'sent' and (c.batch_id <> b.id or c.production_status = 'Rejected') then 1 else 0 end) as rejected`));
  return rows.reverse().map((r) => ({
    businessDate: r.business_date, claimed: Number(r.claimed), sending: Number(r.sending), inProduction: Number(r.in_production),
    shipped: Number(r.shipped), rejected: Number(r.rejected),
  }));
}

/** Marked cards no batch holds: they go at the next cut-off. */
export async function cardsWaiting(db: Knex): Promise<number> {
  const [row] = await markedContracts(db).whereRaw(NOT_IN_UNSENT_BATCH).count({ n: '*' });
  return Number((row as { n: number | string } | undefined)?.n ?? 0);
}

/** Why cards are Rejected (bureau) or Invalid (our validation), by code, with one reason as an example. */
export async function rejectionReasons(db: Knex): Promise<Array<{ status: string; code: string; cards: number; example: string | null }>> {
  const rows: any[] = await db('card_contracts').whereIn('production_status', ['Rejected', 'Invalid'])
    .groupBy('production_status', 'reject_code').select('production_status', 'reject_code')
    .count({ n: '*' }).min({ example: 'reject_reason' }).orderBy('n', 'desc');
  return rows.map((r) => ({ status: r.production_status, code: r.reject_code ?? '', cards: Number(r.n), example: r.example ?? null }));
}

/** Batches not sent yet, oldest first, with their bureau (a batch without a code is `firstBureau`'s). */
export async function unfinishedBatchList(db: Knex, firstBureau = ''): Promise<Array<{ id: number; bureau: string; fileName: string; businessDate: string; state: string; records: number; attempts: number; lastError: string | null; updatedAt: string }>> {
  const rows: any[] = await db('perso_batches').whereNot({ state: 'sent' }).orderBy('id');
  return rows.map((b) => ({
    id: Number(b.id), bureau: rowBureau(b.bureau_code, firstBureau), fileName: b.file_name, businessDate: b.business_date, state: b.state, records: Number(b.record_count),
    attempts: Number(b.attempts), lastError: b.last_error, updatedAt: b.updated_at,
  }));
}

/** Every lease with its holder and expiry (the holder's row stays after it expires until another takes it). */
export async function leaseList(db: Knex): Promise<Array<{ name: string; owner: string; acquiredAt: string; expiresAt: string }>> {
  const rows: any[] = await db('leases').whereNot({ owner: 'mutex' }).orderBy('name');
  return rows.map((l) => ({ name: l.name, owner: l.owner, acquiredAt: l.acquired_at, expiresAt: instantText(l.expires_at) }));
}

/**
 * Epoch milliseconds as an ISO time; a value no date holds (a lease pinned by hand "for ever" past
 * year 275760) as what it is: toISOString threw on it, and the status page answered 500 from then on.
 */
function instantText(ms: number | string): string {
  const at = new Date(Number(ms));
  return Number.isNaN(at.getTime()) ? `not a time: ${ms}` : at.toISOString();
}
