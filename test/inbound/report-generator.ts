/**
 * Bureau reports written the way another party's tooling might write them, by string building from
 * the interface document (bureau-interface §2) — deliberately NOT through src/ (whose writer,
 * buildReportXml, the parser was made to read). It varies what the document allows: elements in
 * any order (lists, records' fields, the header anywhere), each list empty, self-closed or absent,
 * optional fields absent or empty, whitespace, escapes, and stock-only reports.
 *
 * Alongside the XML it returns what a reader must find in it, written in the interface's terms.
 */
import fc from 'fast-check';

export interface GeneratedCard {
  /** card n: contract 1000+n, plastic 5000+n (as test/inbound/seed.ts seeds them) */
  n: number;
  /** its record number in our file */
  recordSequence: number;
}

export type CardOutcome =
  | { kind: 'none' }
  | { kind: 'rejected'; code: string; reason: string }
  | { kind: 'expected'; expectedShipDate: string; courier: string; trackingNumber: string }
  | { kind: 'shipped'; expectedShipDate: string | null; shipDate: string; courier: string; trackingNumber: string };

export interface GeneratedStockItem {
  productCode: string;
  opening: number;
  received: number;
  used: number;
  spoiled: number;
  closing: number;
  minStock: number;
}

/** The choices a report is made from (drawn by `reportPlan`), independent of any card numbers. */
export interface ReportPlan {
  stockOnly: boolean;
  outcomes: CardOutcome[];
  stock: GeneratedStockItem[];
  /** layout choices */
  seed: number;
}

export interface GeneratedReport {
  xml: string;
  /** the header and records as the interface defines them, in document order per list */
  expected: {
    header: { issuer: string; bureau: string; reportDate: string; createdAt: string; sourceFile: string; recordsReceived: number | null };
    rejections: Array<{ path: string; recordSequence: number; cardContractId: string; plasticId: string; code: string; reason: string }>;
    shipments: Array<{
      path: string; recordSequence: number; cardContractId: string; plasticId: string;
      expectedShipDate: string | null; shipDate: string | null; courier: string; trackingNumber: string;
    }>;
    stock: Array<GeneratedStockItem & { path: string }>;
  };
  /** what each card of the batch must become once applied */
  outcomes: Map<number, CardOutcome>;
}

const date = fc.integer({ min: 0, max: 60 }).map((d) => new Date(Date.UTC(2026, 10, 20) + d * 86_400_000).toISOString().slice(0, 10));
/** text with the characters XML must escape, and others it must carry through */
const freeText = fc.array(fc.constantFrom('A', 'b', ' ', '&', '<', '>', '"', "'", 'é', 'ß', '-', '1', '/', '€'), { maxLength: 20 }).map((a) => a.join('').trim());
const code = fc.stringMatching(/^[0-9A-Z]{1,10}$/);
const tracking = fc.stringMatching(/^[A-Z0-9]{0,20}$/);

const outcome: fc.Arbitrary<CardOutcome> = fc.oneof(
  fc.constant<CardOutcome>({ kind: 'none' }),
  fc.record({ kind: fc.constant('rejected' as const), code, reason: freeText }),
  fc.record({ kind: fc.constant('expected' as const), expectedShipDate: date, courier: freeText, trackingNumber: tracking }),
  fc.record({ kind: fc.constant('shipped' as const), expectedShipDate: fc.option(date, { nil: null }), shipDate: date, courier: freeText, trackingNumber: tracking }),
);

const stockItem = fc.record({
  opening: fc.nat(100_000), received: fc.nat(10_000), used: fc.nat(10_000), spoiled: fc.nat(100), closing: fc.nat(100_000), minStock: fc.nat(100_000),
});

/** A report's choices for a batch of `cards` cards; product codes are made unique per report by the caller's tag. */
export function reportPlan(cards: number): fc.Arbitrary<ReportPlan> {
  return fc.record({
    stockOnly: fc.boolean(),
    outcomes: fc.array(outcome, { minLength: cards, maxLength: cards }),
    stock: fc.array(stockItem, { maxLength: 4 }).map((items) => items.map((item, i) => ({ productCode: `P${i}`, ...item }))),
    seed: fc.integer(),
  });
}

/** A small deterministic generator for layout choices (shuffles, spacing), seeded by the plan. */
function layoutRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * Writes the report for `plan` about a batch whose file is `sourceFile`, holding `cards`; product
 * codes are prefixed with `tag` (unique per report, so reports do not overwrite each other's stock).
 */
export function writeReport(plan: ReportPlan, sourceFile: string, cards: GeneratedCard[], tag: string): GeneratedReport {
  const random = layoutRandom(plan.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const shuffle = <T>(items: T[]): T[] => {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
  const space = () => pick(['', ' ', '\n', '\n  ', '\t', '\r\n    ']);
  /** an element: empty values self-closed or open-close; optional empty ones sometimes left out */
  const element = (name: string, value: string | number | null, optional = false): string => {
    const text = value === null ? '' : String(value);
    if (text === '') {
      if (optional && random() < 0.4) return '';
      return pick([`<${name}/>`, `<${name}></${name}>`, `<${name} />`]);
    }
    return `<${name}>${escape(text)}</${name}>`;
  };
  const record = (name: string, fields: string[]) => `<${name}>${shuffle(fields).map((f) => space() + f).join('')}${space()}</${name}>`;
  const list = (name: string, records: string[]) => {
    if (records.length > 0) return `<${name}>${records.map((r) => space() + r).join('')}${space()}</${name}>`;
    return pick(['', `<${name}/>`, `<${name}></${name}>`, `<${name}>${space()}</${name}>`]);
  };

  const stockOnly = plan.stockOnly;
  const header = {
    issuer: 'BXISSUER', bureau: 'BUREAU01', reportDate: '2026-11-26', createdAt: pick(['2026-11-26T06:15:00Z', '2026-11-26T07:15:00+01:00', '2026-11-26T06:15:00.250Z']),
    sourceFile: stockOnly ? '' : sourceFile, recordsReceived: stockOnly ? null : cards.length,
  };
  const expected: GeneratedReport['expected'] = { header, rejections: [], shipments: [], stock: [] };
  const outcomes = new Map<number, CardOutcome>();
  const rejectionXml: string[] = [];
  const shipmentXml: string[] = [];
  // records in any order, not the file's
  for (const i of shuffle(cards.map((_, i) => i))) {
    const card = cards[i]!;
    const o: CardOutcome = stockOnly ? { kind: 'none' } : plan.outcomes[i]!;
    outcomes.set(card.n, o);
    const ids = { recordSequence: card.recordSequence, cardContractId: String(1000 + card.n).padStart(15, '0'), plasticId: String(5000 + card.n).padStart(12, '0') };
    const idFields = [element('RecordSequence', ids.recordSequence), element('CardContractId', ids.cardContractId), element('PlasticId', ids.plasticId)];
    if (o.kind === 'rejected') {
      expected.rejections.push({ path: `BureauReport/Rejections/Rejection[${rejectionXml.length + 1}]`, ...ids, code: o.code, reason: o.reason });
      rejectionXml.push(record('Rejection', [...idFields, element('Code', o.code), element('Reason', o.reason, true)]));
    } else if (o.kind !== 'none') {
      const s = o.kind === 'expected'
        ? { expectedShipDate: o.expectedShipDate, shipDate: null, courier: o.courier, trackingNumber: o.trackingNumber }
        : { expectedShipDate: o.expectedShipDate, shipDate: o.shipDate, courier: o.courier, trackingNumber: o.trackingNumber };
      expected.shipments.push({ path: `BureauReport/Shipments/Shipment[${shipmentXml.length + 1}]`, ...ids, ...s });
      shipmentXml.push(record('Shipment', [...idFields, element('ExpectedShipDate', s.expectedShipDate, true), element('ShipDate', s.shipDate, true),
        element('Courier', s.courier, true), element('TrackingNumber', s.trackingNumber, true)]));
    }
  }
  const stockXml = plan.stock.map((item, i) => {
    const productCode = `${tag}${item.productCode}`;
    expected.stock.push({ path: `BureauReport/Stock/Item[${i + 1}]`, ...item, productCode });
    return record('Item', [element('ProductCode', productCode), element('Opening', item.opening), element('Received', item.received),
      element('Used', item.used), element('Spoiled', item.spoiled), element('Closing', item.closing), element('MinStock', item.minStock)]);
  });
  const headerXml = record('Header', [element('Issuer', header.issuer), element('Bureau', header.bureau), element('ReportDate', header.reportDate),
    element('CreatedAt', header.createdAt), element('SourceFile', header.sourceFile), element('RecordsReceived', header.recordsReceived, true)]);
  const parts = shuffle([headerXml, list('Rejections', rejectionXml), list('Shipments', shipmentXml), list('Stock', stockXml)]);
  const declaration = pick(['<?xml version="1.0" encoding="UTF-8"?>\n', '<?xml version="1.0"?>', '']);
  const xml = `${declaration}<BureauReport version="1">${parts.map((p) => space() + p).join('')}${space()}</BureauReport>\n`;
  return { xml, expected, outcomes };
}
