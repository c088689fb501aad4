import { createHash } from 'node:crypto';
import type { BusinessCalendar } from '../calendar/index.js';
import type { RejectionRecord, ShipmentRecord, StockItem } from '../inbound/report-format.js';
import type { ReceivedRecord } from './perso-check.js';
import type { BureauSettings } from './settings.js';

export type Rejection = Omit<RejectionRecord, 'path'>;
export type Shipment = Omit<ShipmentRecord, 'path'>;
export type Stock = Omit<StockItem, 'path'>;

/** The bureau's answer to one file, as records (kept only on request: reports are written streaming). */
export interface Decisions {
  rejections: Rejection[];
  shipments: Shipment[];
  stock: Stock[];
}

/** Realistic reject reasons, with how often each comes up among rejections. */
export const REJECT_REASONS = [
  { code: '012', reason: 'Unregistered plastic', weight: 3 },
  { code: '021', reason: 'Embossing data invalid', weight: 2 },
  { code: '034', reason: 'Address undeliverable', weight: 2 },
] as const;
export const OUT_OF_STOCK = { code: '045', reason: 'Plastic out of stock' } as const;
/** Every record of a file that failed the strict check is rejected with this code. */
export const FILE_REJECTED_CODE = '090';

/**
 * Tracking numbers never hold a run of 12 digits or more: the receive side masks such a run as a
 * possible PAN wherever report text enters (12–19 digits, and every run of 20 or more, which may hold
 * one), so it would be stored masked and the demo's check would fail. DHL Express is JD + 10 digits
 * + DE (it was JD01 + 18 digits, a 20-digit run).
 */
const COURIERS: Record<string, { courier: string; tracking: (rng: () => number) => string }> = {
  '1': { courier: 'DEUTSCHE POST', tracking: (rng) => `RR${digits(rng, 9)}DE` },
  '2': { courier: 'DHL EXPRESS', tracking: (rng) => `JD${digits(rng, 10)}DE` },
  '3': { courier: 'BRANCH RUN', tracking: (rng) => `BR${digits(rng, 10)}` },
  '4': { courier: 'RETURN TO ISSUER', tracking: (rng) => `RI${digits(rng, 10)}` },
};

/** A small seeded PRNG (mulberry32): the same seed and file give the same decisions. */
export function seededRandom(seed: number, salt: string): () => number {
  let state = createHash('sha256').update(`${seed}:${salt}`).digest().readUInt32BE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function digits(rng: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += Math.floor(rng() * 10);
  return s;
}

export interface DeciderContext {
  settings: BureauSettings;
  calendar: BusinessCalendar;
  /** YYYY-MM-DD */
  reportDate: string;
  /** seeds the decisions, with the file name: the same file is decided the same way in every pass */
  fileName: string;
  /** closing stock per product before this file */
  stock: ReadonlyMap<string, number>;
}

export type Decision = { rejection: Rejection; shipment?: undefined } | { shipment: Shipment; rejection?: undefined };

export interface RecordDecider {
  /** the fate of the next record of an accepted file (call in file order) */
  decide(record: ReceivedRecord): Decision;
  /** stock per product used so far: some plastics spoil in production */
  stock(): Stock[];
}

/**
 * Decides record by record: a share rejected with realistic codes, the rest shipped (today, with
 * courier and tracking) or expected on one of the next business days; the plastics used per product
 * come out of the stock, and a product out of stock rejects. Two deciders for the same context make
 * the same decisions, so a report can be written in several passes over the file.
 */
export function makeDecider(ctx: DeciderContext): RecordDecider {
  const { settings, calendar, reportDate } = ctx;
  const rng = seededRandom(settings.seed, ctx.fileName);
  const used = new Map<string, number>();
  const opening = (product: string) => ctx.stock.get(product) ?? settings.stock.opening[product] ?? settings.stock.defaultOpening;
  return {
    decide(r) {
      const ids = { recordSequence: r.recordSequence, cardContractId: r.contractId, plasticId: r.plasticId };
      if (rng() < settings.rejectRate) {
        const { code, reason } = pickWeighted(REJECT_REASONS, rng);
        return { rejection: { ...ids, code, reason } };
      }
      const usedSoFar = used.get(r.productCode) ?? 0;
      if (usedSoFar >= opening(r.productCode)) return { rejection: { ...ids, ...OUT_OF_STOCK } };
      used.set(r.productCode, usedSoFar + 1);
      const courier = COURIERS[r.deliveryMethod] ?? COURIERS['1']!;
      const expected = calendar.nextBusinessDay(reportDate, 1 + Math.floor(rng() * settings.shipWithinBusinessDays));
      if (rng() < settings.shipRate) {
        return { shipment: { ...ids, expectedShipDate: reportDate, shipDate: reportDate, courier: courier.courier, trackingNumber: courier.tracking(rng) } };
      }
      return { shipment: { ...ids, expectedShipDate: expected, shipDate: null, courier: courier.courier, trackingNumber: '' } };
    },
    stock: () => stockMovements(used, opening, settings, seededRandom(settings.seed, `${ctx.fileName}:stock`)),
  };
}

/** Stock per product used in this file: some plastics spoil in production. */
function stockMovements(used: Map<string, number>, opening: (p: string) => number, settings: BureauSettings, rng: () => number): Stock[] {
  return [...used.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([productCode, n]) => {
    const open = opening(productCode);
    const spoiled = Math.min(open - n, Math.round(n * settings.stock.spoilRate * 2 * rng()));
    return { productCode, opening: open, received: 0, used: n, spoiled, closing: open - n - spoiled, minStock: settings.stock.minStock };
  });
}

/** A record of a broken file: rejected with the reason the whole file was. */
export function fileRejection(r: ReceivedRecord, reason: string): Rejection {
  return { recordSequence: r.recordSequence, cardContractId: r.contractId, plasticId: r.plasticId, code: FILE_REJECTED_CODE, reason: `File rejected: ${reason}` };
}

function pickWeighted<T extends { weight: number }>(items: readonly T[], rng: () => number): T {
  const total = items.reduce((s, i) => s + i.weight, 0);
  let x = rng() * total;
  for (const item of items) {
    x -= item.weight;
    if (x < 0) return item;
  }
  return items[items.length - 1]!;
}
