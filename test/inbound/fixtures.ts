import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import NodeRSA from 'node-rsa';
import { buildReportXml, type ReportInput } from '../../src/inbound/report-format.js';
import { userIds } from '../helpers/sshd.js';

/** Report files as the bureau would put them, and a look at the server's folders. */
export const contractId = (n: number) => String(1000 + n).padStart(15, '0');
export const plasticId = (n: number) => String(5000 + n).padStart(12, '0');

export function header(sourceFile: string, reportDate = '2026-11-26') {
  return { issuer: 'BXISSUER', bureau: 'BUREAU01', reportDate, createdAt: `${reportDate}T06:15:00Z`, sourceFile, recordsReceived: 1 };
}

/** A shipment of card n; `sequence` is its record number in our file (default n: found by contract number then). */
export function shipment(n: number, o: { expected?: string; shipped?: string; sequence?: number } = {}) {
  return { recordSequence: o.sequence ?? n, cardContractId: contractId(n), plasticId: plasticId(n), expectedShipDate: o.expected ?? null, shipDate: o.shipped ?? null, courier: 'DHL', trackingNumber: `JD${n}` };
}

export function rejection(n: number) {
  return { recordSequence: n, cardContractId: contractId(n), plasticId: plasticId(n), code: '012', reason: 'Unregistered plastic' };
}

let sequence = 0;
export function reportName(ext: 'rsa' | 'pgp' = 'rsa'): string {
  return `BXISSUER_REPORT_20261126_${String(++sequence).padStart(6, '0')}.xml.${ext}`;
}

/** RSA-OAEP blocks by node-rsa, as the bureau's tooling writes them. */
export function nodeRsaEncrypt(clear: string | Buffer, publicKeyPem: string): Buffer {
  return Buffer.from(new NodeRSA(publicKeyPem, 'pkcs8-public-pem', { encryptionScheme: 'pkcs1_oaep' }).encrypt(Buffer.from(clear)));
}

/** The same, independently, with `openssl pkeyutl` one 214-byte chunk at a time. */
export function opensslEncrypt(clear: string | Buffer, publicKeyFile: string, tmp: string): Buffer {
  const data = Buffer.from(clear);
  const blocks: Buffer[] = [];
  for (let i = 0; i < data.length; i += 214) {
    writeFileSync(join(tmp, 'chunk.bin'), data.subarray(i, i + 214));
    blocks.push(execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', publicKeyFile, '-pkeyopt', 'rsa_padding_mode:oaep', '-in', join(tmp, 'chunk.bin')]));
  }
  return Buffer.concat(blocks);
}

export function xmlOf(report: ReportInput): string {
  return buildReportXml(report);
}

/** Generates an RSA-2048 key pair with openssl: private key mode 600. */
export function rsaKeyPair(dir: string, name: string): { keyFile: string; pubFile: string; publicPem: string } {
  const keyFile = join(dir, `${name}.pem`);
  const pubFile = join(dir, `${name}.pub.pem`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile], { stdio: 'ignore' });
  chmodSync(keyFile, 0o600);
  execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-out', pubFile]);
  return { keyFile, pubFile, publicPem: readFileSync(pubFile, 'utf8') };
}

/** The bureau's side of the server folder (the local folder sshd's '/' maps to). */
export class BureauFolder {
  constructor(private readonly root: string) {}

  /** Puts a report into /outbound, `ageSeconds` old (by mtime). */
  put(name: string, data: Buffer | string, ageSeconds = 120): void {
    const file = join(this.root, 'outbound', name);
    writeFileSync(file, data);
    const { uid, gid } = userIds('nobody');
    execFileSync('chown', [`${uid}:${gid}`, file]);
    const t = new Date(Date.now() - ageSeconds * 1000);
    utimesSync(file, t, t);
  }

  path(name: string, sub = ''): string {
    return join(this.root, 'outbound', sub, name);
  }

  /** File names in /outbound, /outbound/processed or /outbound/failed. */
  files(sub: '' | 'processed' | 'failed' = ''): string[] {
    try {
      return readdirSync(join(this.root, 'outbound', sub), { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();
    } catch {
      return [];
    }
  }

  clear(): void {
    for (const sub of ['processed', 'failed']) rmSync(join(this.root, 'outbound', sub), { recursive: true, force: true });
    for (const name of this.files()) rmSync(join(this.root, 'outbound', name));
    mkdirSync(join(this.root, 'outbound'), { recursive: true });
  }
}
