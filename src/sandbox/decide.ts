import { createHash } from 'node:crypto';
import type { BusinessCalendar } from '../calendar/index.js';
import type { RejectionRecord, ShipmentRecord, StockItem } from '../inbound/report-format.js';
import type { ReceivedRecord } from './perso-check.js';
import type { BureauSettings } from './settings.js';

export type Rejection = Omit<RejectionRecord, 'path'>;
export type Shipment = Omit<ShipmentRecord, 'path'>;
export type Stock = Omit<StockItem, 'path'>;

/** The bureau's answer to one file, before it is written as XML. */
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

const COURIERS: Record<string, { courier: string; tracking: (rng: () => number) => string }> = {
  '1': { courier: 'DEUTSCHE POST', tracking: (rng) => `RR${digits(rng, 9)}DE` },
  '2': { courier: 'DHL EXPRESS', tracking: (rng) => `JD01${digits(rng, 14)}` },
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

/**
 * Decides the fate of each record of an accepted file: a share rejected with realistic codes,
 * the rest shipped (today, with courier and tracking) or expected on one of the next business
 * days; plastics used per product come out of the stock, and a product out of stock rejects.
 */
export function decideRecords(
  records: ReceivedRecord[], ctx: { settings: BureauSettings; calendar: BusinessCalendar; reportDate: string; rng: () => number; stock: Map<string, number> },
): Decisions {
  const { settings, calendar, reportDate, rng } = ctx;
  const rejections: Rejection[] = [];
  const shipments: Shipment[] = [];
  const used = new Map<string, number>();
  const opening = (product: string) => ctx.stock.get(product) ?? settings.stock.opening[product] ?? settings.stock.defaultOpening;
  for (const r of records) {
    const ids = { recordSequence: r.recordSequence, cardContractId: r.contractId, plasticId: r.plasticId };
    if (rng() < settings.rejectRate) {
      const { code, reason } = pickWeighted(REJECT_REASONS, rng);
      rejections.push({ ...ids, code, reason });
      continue;
    }
    const usedSoFar = used.get(r.productCode) ?? 0;
    if (usedSoFar >= opening(r.productCode)) {
      rejections.push({ ...ids, ...OUT_OF_STOCK });
      continue;
    }
    used.set(r.productCode, usedSoFar + 1);
    const courier = COURIERS[r.deliveryMethod] ?? COURIERS['1']!;
    const expected = calendar.nextBusinessDay(reportDate, 1 + Math.floor(rng() * settings.shipWithinBusinessDays));
    if (rng() < settings.shipRate) {
      shipments.push({ ...ids, expectedShipDate: reportDate, shipDate: reportDate, courier: courier.courier, trackingNumber: courier.tracking(rng) });
    } else {
      shipments.push({ ...ids, expectedShipDate: expected, shipDate: null, courier: courier.courier, trackingNumber: '' });
    }
  }
  return { rejections, shipments, stock: stockMovements(used, opening, settings, rng) };
}

/** Stock per product used in this file: some plastics spoil in production. */
function stockMovements(used: Map<string, number>, opening: (p: string) => number, settings: BureauSettings, rng: () => number): Stock[] {
  return [...used.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([productCode, n]) => {
    const open = opening(productCode);
    const spoiled = Math.min(open - n, Math.round(n * settings.stock.spoilRate * 2 * rng()));
    return { productCode, opening: open, received: 0, used: n, spoiled, closing: open - n - spoiled, minStock: settings.stock.minStock };
  });
}

/** A broken file: every record that could be read is rejected with the reason. */
export function rejectWholeFile(records: ReceivedRecord[], reason: string): Decisions {
  const text = `File rejected: ${reason}`;
  return {
    rejections: records.map((r) => ({ recordSequence: r.recordSequence, cardContractId: r.contractId, plasticId: r.plasticId, code: FILE_REJECTED_CODE, reason: text })),
    shipments: [],
    stock: [],
  };
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
