/**
 * A bureau report as data (docs/bureau-interface.md §2): what the receive job reads, the database
 * stores and the sandbox writes. Its XML is written and read by inbound/report-format.ts and
 * inbound/parse-report.ts.
 */

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
export interface Located {
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
