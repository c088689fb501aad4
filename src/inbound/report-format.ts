/**
 * The writer of the bureau report's XML (docs/bureau-interface.md §2; the records are typed in
 * domain/report.ts). The parser (parse-report.ts) reads exactly what this writes: one definition of
 * the format.
 */

import type { ReportInput } from '../domain/report.js';
import { escapeXml } from '../security/shown-text.js';

export type { BureauReport, RejectionRecord, ReportHeader, ReportInput, ShipmentRecord, StockItem } from '../domain/report.js';

export const REPORT_VERSION = '1';

/** The record elements of each list, in the order of the interface. */
export const LISTS = {
  Rejections: 'Rejection',
  Shipments: 'Shipment',
  Stock: 'Item',
} as const;
export type ListName = keyof typeof LISTS;

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
