/**
 * The bureau report (bureau-interface §2) as data, and the writer of its XML. The parser
 * (parse-report.ts) reads exactly what this writes: one definition of the format.
 */

export const REPORT_VERSION = '1';

export interface ReportHeader {
  issuer: string;
  bureau: string;
  /** YYYY-MM-DD */
  reportDate: string;
  /** ISO date-time */
  createdAt: string;
  /** the personalization file the records refer to; empty for a stock-only report */
  sourceFile: string;
  /** records the bureau received from that file; null in a stock-only report */
  recordsReceived: number | null;
}

/** Where a record sits in the document, e.g. `BureauReport/Shipments/Shipment[3]`. */
interface Located {
  path: string;
}

export interface RejectionRecord extends Located {
  recordSequence: number;
  /** as written by the bureau (leading zeros kept) */
  cardContractId: string;
  plasticId: string;
  code: string;
  reason: string;
}

export interface ShipmentRecord extends Located {
  recordSequence: number;
  cardContractId: string;
  plasticId: string;
  /** YYYY-MM-DD or null */
  expectedShipDate: string | null;
  /** YYYY-MM-DD or null: set means shipped */
  shipDate: string | null;
  courier: string;
  trackingNumber: string;
}

export interface StockItem extends Located {
  productCode: string;
  opening: number;
  received: number;
  used: number;
  spoiled: number;
  closing: number;
  minStock: number;
}

export interface BureauReport {
  header: ReportHeader;
  rejections: RejectionRecord[];
  shipments: ShipmentRecord[];
  stock: StockItem[];
}

/** Records without their location, as a writer takes them. */
export type ReportInput = {
  header: ReportHeader;
  rejections?: Iterable<Omit<RejectionRecord, 'path'>>;
  shipments?: Iterable<Omit<ShipmentRecord, 'path'>>;
  stock?: Iterable<Omit<StockItem, 'path'>>;
};

/** The record elements of each list, in the order of the interface. */
export const LISTS = {
  Rejections: 'Rejection',
  Shipments: 'Shipment',
  Stock: 'Item',
} as const;
export type ListName = keyof typeof LISTS;

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const el = (name: string, value: string | number | null) =>
  value === null || value === '' ? `<${name}/>` : `<${name}>${escapeXml(String(value))}</${name}>`;

/** The report as XML text, in pieces (one per record): a writer can stream a report of any size. */
export function* reportXmlChunks(report: ReportInput): Generator<string> {
  const h = report.header;
  yield `<?xml version="1.0" encoding="UTF-8"?>\n<BureauReport version="${REPORT_VERSION}">\n  <Header>\n    `
    + el('Issuer', h.issuer) + el('Bureau', h.bureau) + '\n    ' + el('ReportDate', h.reportDate) + el('CreatedAt', h.createdAt)
    + '\n    ' + el('SourceFile', h.sourceFile) + '\n    ' + el('RecordsReceived', h.recordsReceived) + '\n  </Header>\n';
  yield '  <Rejections>\n';
  for (const r of report.rejections ?? []) {
    yield '    <Rejection>\n      ' + el('RecordSequence', r.recordSequence) + el('CardContractId', r.cardContractId)
      + '\n      ' + el('PlasticId', r.plasticId) + el('Code', r.code) + el('Reason', r.reason) + '\n    </Rejection>\n';
  }
  yield '  </Rejections>\n  <Shipments>\n';
  for (const s of report.shipments ?? []) {
    yield '    <Shipment>\n      ' + el('RecordSequence', s.recordSequence) + el('CardContractId', s.cardContractId)
      + '\n      ' + el('PlasticId', s.plasticId) + el('ExpectedShipDate', s.expectedShipDate)
      + '\n      ' + el('ShipDate', s.shipDate) + el('Courier', s.courier) + el('TrackingNumber', s.trackingNumber) + '\n    </Shipment>\n';
  }
  yield '  </Shipments>\n  <Stock>\n';
  for (const i of report.stock ?? []) {
    yield '    <Item>' + el('ProductCode', i.productCode) + el('Opening', i.opening) + el('Received', i.received)
      + '\n      ' + el('Used', i.used) + el('Spoiled', i.spoiled) + el('Closing', i.closing) + el('MinStock', i.minStock) + '</Item>\n';
  }
  yield '  </Stock>\n</BureauReport>\n';
}

/** The whole report as one XML string (small reports, tests, the sandbox). */
export function buildReportXml(report: ReportInput): string {
  return [...reportXmlChunks(report)].join('');
}
