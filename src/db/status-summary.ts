import type { Knex } from 'knex';
import type { BatchRow } from './batches.js';
import { countByStatus } from './contracts.js';
import type { BureauReportRow } from './reports.js';
import { stockLevels } from './stock.js';

/** What `status` shows: a read-only summary across the tables. */
export interface StatusSummary {
  contracts: Record<string, number>;
  /** the Shipped contracts split: a ship date reported, or only an expected one so far */
  shipments: { shipped: number; expected: number; expectedFrom: string | null; expectedTo: string | null };
  batches: Array<{ fileName: string; state: string; records: number; createdAt: string; sentAt: string | null; lastError: string | null }>;
  reports: Array<{ remoteName: string; state: string; sourceFile: string | null; rejections: number; shipments: number; anomalies: number; error: string | null; createdAt: string }>;
  /** `id` is what `receive --requeue <id>` takes */
  quarantined: Array<{ id: number; remoteName: string; error: string | null; createdAt: string }>;
  /** per bureau and product: `bureauCode` null is the first bureau's stock */
  stock: Array<{ bureauCode: string | null; productCode: string; closing: number; minStock: number; low: boolean; reportDate: string | null }>;
}

export async function statusSummary(db: Knex, recent = 10): Promise<StatusSummary> {
  const [contracts, [expected], batches, reports, quarantined, stock]: [Record<string, number>, Array<{ n?: number | string; first?: string | null; last?: string | null }>, BatchRow[], BureauReportRow[], BureauReportRow[], Awaited<ReturnType<typeof stockLevels>>] = await Promise.all([
    countByStatus(db),
    db('card_contracts').where({ production_status: 'Shipped' }).whereNull('ship_date')
      .count({ n: '*' }).min({ first: 'expected_ship_date' }).max({ last: 'expected_ship_date' }),
    db('perso_batches').orderBy('id', 'desc').limit(recent),
    db('bureau_reports').orderBy('id', 'desc').limit(recent),
    db('bureau_reports').where({ state: 'quarantined' }).orderBy('id', 'desc').limit(100),
    stockLevels(db),
  ]);
  const expectedCount = Number(expected?.n ?? 0);
  return {
    contracts,
    shipments: {
      shipped: (contracts.Shipped ?? 0) - expectedCount, expected: expectedCount,
      expectedFrom: expected?.first ?? null, expectedTo: expected?.last ?? null,
    },
    batches: batches.map((b) => ({ fileName: b.file_name, state: b.state, records: Number(b.record_count), createdAt: b.created_at, sentAt: b.sent_at, lastError: b.last_error })),
    reports: reports.map((r) => ({
      remoteName: r.remote_name, state: r.state, sourceFile: r.source_file, rejections: Number(r.rejections), shipments: Number(r.shipments),
      anomalies: Number(r.anomalies), error: r.error, createdAt: r.created_at,
    })),
    quarantined: quarantined.map((r) => ({ id: Number(r.id), remoteName: r.remote_name, error: r.error, createdAt: r.created_at })),
    stock: stock.map((s) => ({ bureauCode: s.bureau_code ?? null, productCode: s.product_code, closing: Number(s.closing), minStock: Number(s.min_stock), low: Boolean(s.low), reportDate: s.report_date })),
  };
}
