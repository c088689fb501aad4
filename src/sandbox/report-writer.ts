import { createWriteStream, existsSync, linkSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encryptRsaReport } from '../crypto/rsa.js';
import { reportXmlChunks, type ReportHeader } from '../inbound/report-format.js';
import type { BureauState } from './bureau-state.js';
import type { Rejection, Shipment, Stock } from './decide.js';

/** A report as the writer pulls it: each list is read once, in this order, while the file is written. */
export interface ReportParts {
  header: ReportHeader;
  rejections: Iterable<Rejection>;
  shipments: Iterable<Shipment>;
  stock: Iterable<Stock>;
}

/**
 * Streams the report XML through RSA-OAEP into `<name>.part` in the outbound folder, then links it to
 * its final name (never replacing one) and drops the temp name: the issuer never sees half a report.
 * Memory stays flat whatever the number of records.
 */
export async function writeEncryptedReport(outbound: string, name: string, parts: ReportParts, rsaPublicKeyPem: string): Promise<void> {
  mkdirSync(outbound, { recursive: true });
  const temp = join(outbound, `${name}.part`);
  const xml = Readable.from((function* () {
    for (const chunk of reportXmlChunks(parts)) yield Buffer.from(chunk, 'utf8');
  })());
  try {
    await pipeline(encryptRsaReport(xml, rsaPublicKeyPem), createWriteStream(temp, { mode: 0o644 }));
    if (existsSync(join(outbound, name))) throw new Error(`report ${name} already exists in ${outbound}`);
    linkSync(temp, join(outbound, name));
  } finally {
    if (existsSync(temp)) unlinkSync(temp);
  }
}

/** The next report name of the day; a name already on the server (a lost state file) is skipped, never reused. */
export function nextReportName(state: BureauState, issuer: string, reportDate: string, folders: string[]): string {
  const day = reportDate.replace(/-/g, '');
  for (let seq = (state.reportSequence[day] ?? 0) + 1; ; seq++) {
    const name = `${issuer}_REPORT_${day}_${String(seq).padStart(6, '0')}.xml.rsa`;
    if (folders.some((dir) => existsSync(join(dir, name)))) continue;
    state.reportSequence[day] = seq;
    return name;
  }
}
