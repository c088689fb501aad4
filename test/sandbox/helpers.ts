import { spawnSync } from 'node:child_process';
import { constants, createPrivateKey, privateDecrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { SANDBOX_KEY_FILES } from '../../src/sandbox/keys.js';

/** Loads a sandbox config with its own copy of the environment (its .env must not leak into other tests). */
export function loadSandboxConfig(configFile: string): LoadedConfig {
  return loadConfig(configFile, { ...process.env, BX_PAN_KEY: undefined });
}

export interface ReadReport {
  header: Record<string, string>;
  rejections: Array<Record<string, string>>;
  shipments: Array<Record<string, string>>;
  stock: Array<Record<string, string>>;
}

/** Decrypts a sandbox `.rsa` report with the issuer key, independently of our receive job, and reads the XML. */
export function readSandboxReport(file: string, keysDir: string): ReadReport {
  const key = createPrivateKey(readFileSync(join(keysDir, SANDBOX_KEY_FILES.issuerRsaPrivate)));
  const encrypted = readFileSync(file);
  const k = 256;
  const parts: Buffer[] = [];
  for (let i = 0; i < encrypted.length; i += k) {
    parts.push(privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, encrypted.subarray(i, i + k)));
  }
  const xml = Buffer.concat(parts).toString('utf8');
  const doc = new XMLParser({ parseTagValue: false, isArray: (name) => ['Rejection', 'Shipment', 'Item'].includes(name) }).parse(xml);
  const r = doc.BureauReport;
  return {
    header: r.Header,
    rejections: r.Rejections?.Rejection ?? [],
    shipments: r.Shipments?.Shipment ?? [],
    stock: r.Stock?.Item ?? [],
  };
}

/** Checks a sandbox `.sig` with openssl, independently of our code: its output line. */
export function opensslVerify(report: string, publicKeyFile: string): string {
  const run = spawnSync('openssl', [
    'dgst', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sigopt', 'rsa_mgf1_md:sha256',
    '-verify', publicKeyFile, '-signature', `${report}.sig`, report,
  ], { encoding: 'utf8' });
  return run.stdout.trim() || run.stderr.trim();
}
