import type { Knex } from 'knex';
import { BATCH_STATES, type BatchRow, type BatchState } from './batches.js';
import { rowBureau, whereBureau, type BureauScope } from './bureau-scope.js';
import { countByStatus } from './contracts.js';
import type { BureauReportRow } from './reports.js';
import { stockLevels } from './stock.js';

/** What `status` shows: a read-only summary across the tables. */
export interface StatusSummary {
  contracts: Record<string, number>;
  /** the Shipped contracts split: a ship date reported, or only an expected one so far */
  shipments: { shipped: number; expected: number; expectedFrom: string | null; expectedTo: string | null };
  /** per bureau (config order first, then any other code the table holds): its batches by state */
  bureaus: BureauBatchCounts[];
  batches: Array<{ bureau: string; fileName: string; state: string; records: number; createdAt: string; sentAt: string | null; lastError: string | null }>;
  reports: Array<{ remoteName: string; state: string; sourceFile: string | null; rejections: number; shipments: number; anomalies: number; error: string | null; createdAt: string }>;
  /** `id` is what `receive --requeue <id>` takes */
  quarantined: Array<{ id: number; remoteName: string; error: string | null; createdAt: string }>;
  /** per bureau and product (stockSummary) */
  stock: StockLevel[];
}

/** One bureau's batches by state: the unsent ones (claimed, encrypted, uploaded) wait for its next send. */
export interface BureauBatchCounts {
  bureau: string;
  batches: Record<BatchState, number>;
  unsent: number;
}

/**
 * Batches by bureau and state. A batch without a bureau code (made before several bureaus) counts as
 * `firstBureau`'s; every code in `bureaus` gets a row, batches or not.
 */
export async function batchCountsByBureau(db: Knex, bureaus: readonly string[], only?: BureauScope): Promise<BureauBatchCounts[]> {
  const rows: Array<{ bureau_code: string | null; state: BatchState; n: number | string }> = await whereBureau(db('perso_batches'), only)
    .groupBy('bureau_code', 'state').select('bureau_code', 'state').count({ n: '*' });
  const counts = new Map<string, BureauBatchCounts>();
  const of = (bureau: string) => {
    let c = counts.get(bureau);
    if (!c) counts.set(bureau, (c = { bureau, batches: Object.fromEntries(BATCH_STATES.map((st) => [st, 0])) as Record<BatchState, number>, unsent: 0 }));
    return c;
  };
  for (const code of only ? [only.code] : bureaus) of(code);
  for (const r of rows) {
    const c = of(rowBureau(r.bureau_code, bureaus[0] ?? ''));
    c.batches[r.state] += Number(r.n);
    if (r.state !== 'sent') c.unsent += Number(r.n);
  }
  return [...counts.values()];
}

/**
 * What `status` shows. `bureaus`: the configured codes, the first first (it owns the batches without a
 * code; without codes such a batch shows the bureau ''); `only`: that bureau's batches alone
 * (contracts, reports and stock are the issuer's, not a bureau's).
 */
export async function statusSummary(db: Knex, recent = 10, options: { bureaus?: readonly string[]; only?: BureauScope } = {}): Promise<StatusSummary> {
  const { bureaus = [], only } = options;
  const [contracts, [expected], batches, reports, quarantined, stock]: [Record<string, number>, Array<{ n?: number | string; first?: string | null; last?: string | null }>, BatchRow[], BureauReportRow[], BureauReportRow[], StockLevel[]] = await Promise.all([
    countByStatus(db),
    db('card_contracts').where({ production_status: 'Shipped' }).whereNull('ship_date')
      .count({ n: '*' }).min({ first: 'expected_ship_date' }).max({ last: 'expected_ship_date' }),
    whereBureau(db('perso_batches'), only).orderBy('id', 'desc').limit(recent),
    db('bureau_reports').orderBy('id', 'desc').limit(recent),
    db('bureau_reports').where({ state: 'quarantined' }).orderBy('id', 'desc').limit(100),
    stockSummary(db, bureaus[0] ?? null),
  ]);
  const expectedCount = Number(expected?.n ?? 0);
  return {
    bureaus: await batchCountsByBureau(db, bureaus, only),
    contracts,
    shipments: {
      shipped: (contracts.Shipped ?? 0) - expectedCount, expected: expectedCount,
      expectedFrom: expected?.first ?? null, expectedTo: expected?.last ?? null,
    },
    batches: batches.map((b) => ({ bureau: rowBureau(b.bureau_code, bureaus[0] ?? ''), fileName: b.file_name, state: b.state, records: Number(b.record_count), createdAt: b.created_at, sentAt: b.sent_at, lastError: b.last_error })),
    reports: reports.map((r) => ({
      remoteName: r.remote_name, state: r.state, sourceFile: r.source_file, rejections: Number(r.rejections), shipments: Number(r.shipments),
      anomalies: Number(r.anomalies), error: r.error, createdAt: r.created_at,
    })),
    quarantined: quarantined.map((r) => ({ id: Number(r.id), remoteName: r.remote_name, error: r.error, createdAt: r.created_at })),
    stock,
  };
}

/** A product's latest stock level at a bureau, as `status` and the status page show it. */
export interface StockLevel {
  /** the bureau's code; a level without one is `firstBureau`'s (null when that is not known) */
  bureauCode: string | null;
  productCode: string;
  closing: number;
  minStock: number;
  low: boolean;
  reportDate: string | null;
}

/** Every product's latest level at each bureau (no other count: the stock endpoint reads only these). */
export async function stockSummary(db: Knex, firstBureau: string | null): Promise<StockLevel[]> {
  return (await stockLevels(db)).map((s) => ({
    bureauCode: rowBureau(s.bureau_code, firstBureau), productCode: s.product_code, closing: Number(s.closing), minStock: Number(s.min_stock), low: Boolean(s.low), reportDate: s.report_date,
  }));
}
