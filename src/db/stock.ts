import type { Knex } from 'knex';
import type { StockItem } from '../domain/report.js';
import type { BureauScope } from './bureau-scope.js';
import { nowIso } from './connection.js';
import { latestReportDate } from './reports.js';

/** plastic_stock: the latest stock level of a plastic (product code) reported by a bureau. */
export interface PlasticStockRow {
  /** the bureau holding the plastics (migration 006): null for the first bureau */
  bureau_code: string | null;
  product_code: string;
  opening: number;
  received: number;
  used: number;
  spoiled: number;
  closing: number;
  min_stock: number;
  /** closing below min_stock */
  low: boolean;
  /** bureau_reports.id of the report it came from */
  report_id: number | null;
  /** that report's date: an older report never overwrites a newer level */
  report_date: string | null;
  updated_at: string;
}

/** The bureau_code of a bureau's stock rows: null for the first bureau (its rows from before have none), the code for the others. */
function stockBureau(bureau: BureauScope | undefined): string | null {
  return !bureau || bureau.first ? null : bureau.code;
}

/**
 * Stores the stock levels of a report from `bureau` (default the first), skipping products for which
 * a newer report of that bureau was already applied. A level dated later than any report received
 * now may be (latestReportDate: a row kept by a version that took any date, or written while the
 * host's clock was years ahead) is not newer, it is wrong: kept, it froze the product's level and its
 * low-stock alert until that date. Returns the items of this report that are below their minimum.
 */
export async function upsertStockLevels(
  trx: Knex.Transaction, items: StockItem[], report: { id: number; date: string }, now = nowIso(), bureau?: BureauScope,
): Promise<StockItem[]> {
  const low: StockItem[] = [];
  const bureauCode = stockBureau(bureau);
  const key = (productCode: string) => ({ bureau_code: bureauCode, product_code: productCode });
  const latest = latestReportDate(now);
  for (const item of items) {
    const existing: PlasticStockRow | undefined = await trx('plastic_stock').where(key(item.productCode)).first();
    const isLow = item.closing < item.minStock;
    if (isLow) low.push(item);
    // every level is kept for the trend, even one an older report gives after a newer one
    await trx('plastic_stock_history').insert({
      bureau_code: bureauCode, product_code: item.productCode, report_id: report.id, report_date: report.date, closing: item.closing, min_stock: item.minStock, recorded_at: now,
    });
    if (existing?.report_date && existing.report_date > report.date && existing.report_date <= latest) continue;
    const row = {
      opening: item.opening, received: item.received, used: item.used, spoiled: item.spoiled, closing: item.closing,
      min_stock: item.minStock, low: isLow, report_id: report.id, report_date: report.date, updated_at: now,
    };
    if (existing) await trx('plastic_stock').where(key(item.productCode)).update(row);
    else await trx('plastic_stock').insert({ ...key(item.productCode), ...row });
  }
  return low;
}

/** Every product's latest level, by product code (the first bureau's, then by bureau). */
export async function stockLevels(db: Knex): Promise<PlasticStockRow[]> {
  const rows: PlasticStockRow[] = await db('plastic_stock').orderBy([{ column: 'product_code' }, { column: 'bureau_code', nulls: 'first' }]);
  return rows.map((r) => ({ ...r, low: Boolean(r.low) }));
}

/** The products the bureau last reported below their minimum (the low-stock alert). */
export async function lowStockLevels(db: Knex): Promise<Array<Pick<PlasticStockRow, 'bureau_code' | 'product_code' | 'closing' | 'min_stock' | 'report_id'>>> {
  const rows: Array<Pick<PlasticStockRow, 'bureau_code' | 'product_code' | 'closing' | 'min_stock' | 'report_id'>> =
    await db('plastic_stock').where({ low: true }).select('bureau_code', 'product_code', 'closing', 'min_stock', 'report_id');
  return rows.map((r) => ({ ...r, closing: Number(r.closing), min_stock: Number(r.min_stock) }));
}

/** plastic_stock_history: every level a report gave (the trend on the status page). */
export interface StockPoint {
  /** null: the first bureau */
  bureauCode: string | null;
  productCode: string;
  reportDate: string | null;
  closing: number;
  minStock: number;
  recordedAt: string;
}

/** Points of stock history a chart gets at most. */
const STOCK_HISTORY_LIMIT = 5000;

/**
 * The levels reported since `since` (report date, YYYY-MM-DD), oldest first, per product. Past the
 * limit the oldest points go, of whichever product: cut in product order, the products last in that
 * order lost their recent points, or vanished from the chart. A point dated later than any report
 * received at `now` may be (latestReportDate: kept by a version that took any date) is left out: it
 * stretched the chart to that year and took the place of the newest real points.
 */
export async function stockHistory(db: Knex, since?: string, now = nowIso()): Promise<StockPoint[]> {
  const query = db('plastic_stock_history')
    .where((q) => q.whereNull('report_date').orWhere('report_date', '<=', latestReportDate(now)))
    .orderBy([{ column: 'report_date', order: 'desc', nulls: 'last' }, { column: 'id', order: 'desc' }]).limit(STOCK_HISTORY_LIMIT);
  if (since) query.where('report_date', '>=', since);
  const rows: Array<{ id: number; bureau_code: string | null; product_code: string; report_date: string | null; closing: number; min_stock: number; recorded_at: string }> = await query;
  rows.sort((a, b) => compareText(a.product_code, b.product_code) || compareText(a.report_date ?? '', b.report_date ?? '') || Number(a.id) - Number(b.id));
  return rows.map((r) => ({ bureauCode: r.bureau_code ?? null, productCode: r.product_code, reportDate: r.report_date, closing: Number(r.closing), minStock: Number(r.min_stock), recordedAt: r.recorded_at }));
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
