import type { KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import NodeRSA from 'node-rsa';
import type * as openpgp from 'openpgp';
import { encryptStream } from '../crypto/pgp.js';
import { SIGNATURE_SUFFIX, signReport } from '../crypto/report-signature.js';
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

export type SandboxReportKind = 'rsa' | 'pgp';

/** The bureau's keys for writing reports, as any bureau signs them (bureau-interface 1.1). */
export interface ReportKeys {
  /** .rsa: our RSA public key (PEM), encrypted to with node-rsa, as a bureau's own tooling does */
  issuerRsaPublicPem: string;
  /** .rsa: the bureau's RSA report-signing key, for the detached `.sig` */
  reportSigningKey: KeyObject;
  /** .pgp: our OpenPGP key, encrypted to */
  issuerPgpPublic?: openpgp.PublicKey;
  /** .pgp: the bureau's OpenPGP key, which signs the message */
  bureauPgpPrivate?: openpgp.PrivateKey;
}

/**
 * Writes an encrypted, signed report into the outbound folder: streamed into `<name>.part`, then
 * linked to its final name (never replacing one) and the temp name dropped, so the issuer never sees
 * half a report. A `.rsa` report gets its detached `<name>.sig` first, as the bureau uploads it
 * before the report. Memory stays flat whatever the number of records.
 */
export async function writeEncryptedReport(outbound: string, name: string, kind: SandboxReportKind, parts: ReportParts, keys: ReportKeys): Promise<void> {
  mkdirSync(outbound, { recursive: true });
  const temp = join(outbound, `${name}.part`);
  const xml = Readable.from((function* () {
    for (const chunk of reportXmlChunks(parts)) yield Buffer.from(chunk, 'utf8');
  })());
  try {
    await pipeline(encrypted(xml, kind, keys), createWriteStream(temp, { mode: 0o644 }));
    if (existsSync(join(outbound, name))) throw new Error(`report ${name} already exists in ${outbound}`);
    if (kind === 'rsa') publish(outbound, `${name}${SIGNATURE_SUFFIX}`, await signReport(createReadStream(temp), keys.reportSigningKey));
    linkSync(temp, join(outbound, name));
  } finally {
    if (existsSync(temp)) unlinkSync(temp);
  }
}

function encrypted(xml: Readable, kind: SandboxReportKind, keys: ReportKeys): Readable {
  if (kind === 'rsa') return nodeRsaEncrypt(xml, keys.issuerRsaPublicPem);
  if (!keys.issuerPgpPublic || !keys.bureauPgpPrivate) throw new Error('the sandbox bureau needs both OpenPGP keys to write a .pgp report');
  return encryptStream(xml, { recipients: [keys.issuerPgpPublic], signingKey: keys.bureauPgpPrivate, armor: false });
}

/** Clear bytes per node-rsa call: whole chunks of k−42 bytes, many at once (node-rsa parses the key once per call). */
const CHUNKS_PER_CALL = 64;

/**
 * RSA-OAEP (SHA-1) with node-rsa's `pkcs1_oaep`. node-rsa takes whole buffers and splits one into
 * chunks of equal size, so it is handed whole k−42-byte chunks (the last call: the rest, under one
 * chunk): the blocks are then exactly what bureau-interface §2 describes.
 */
function nodeRsaEncrypt(clear: Readable, publicKeyPem: string): Readable {
  const key = new NodeRSA(publicKeyPem, 'pkcs8-public-pem', { encryptionScheme: 'pkcs1_oaep' });
  const chunk = key.getMaxMessageSize();
  const batch = chunk * CHUNKS_PER_CALL;
  const encrypt = (data: Buffer) => Buffer.from(key.encrypt(data)); // node-rsa 2 returns a Uint8Array
  return Readable.from((async function* () {
    let pending: Buffer = Buffer.alloc(0);
    for await (const piece of clear as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, piece]) : piece;
      const whole = pending.length - (pending.length % batch);
      if (whole) yield encrypt(pending.subarray(0, whole));
      pending = pending.subarray(whole);
    }
    const whole = pending.length - (pending.length % chunk);
    if (whole) yield encrypt(pending.subarray(0, whole));
    if (pending.length > whole) yield encrypt(pending.subarray(whole));
  })());
}

/** Writes a small file through a temp name and links it to its final name (never replacing one). */
function publish(dir: string, name: string, content: Buffer): void {
  const temp = join(dir, `${name}.part`);
  try {
    writeFileSync(temp, content, { mode: 0o644 });
    if (existsSync(join(dir, name))) throw new Error(`${name} already exists in ${dir}`);
    linkSync(temp, join(dir, name));
  } finally {
    if (existsSync(temp)) unlinkSync(temp);
  }
}

/** The next report name of the day; a name already on the server (a lost state file) is skipped, never reused. */
export function nextReportName(state: BureauState, issuer: string, reportDate: string, folders: string[], kind: SandboxReportKind = 'rsa'): string {
  const day = reportDate.replace(/-/g, '');
  for (let seq = (state.reportSequence[day] ?? 0) + 1; ; seq++) {
    const base = `${issuer}_REPORT_${day}_${String(seq).padStart(6, '0')}.xml`;
    if (folders.some((dir) => existsSync(join(dir, `${base}.rsa`)) || existsSync(join(dir, `${base}.pgp`)))) continue;
    state.reportSequence[day] = seq;
    return `${base}.${kind}`;
  }
}
