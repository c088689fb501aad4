import { createHash, createPublicKey, constants, sign } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBureauLayouts } from '../../src/config/bureau-layouts.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { requireSshd, startSshd, userIds, type SshdServer } from '../helpers/sshd.js';
import { rsaKeyPair } from './fixtures.js';
import { seedBatch, type SeededBatch } from './seed.js';

/**
 * Two bureaus on one sshd for the receive suites: BUREAU01 in the default folders (/outbound,
 * processed/, failed/), EMB01 in /emb-out (done/, failed/); each with its own RSA report key and its
 * own pinned report-signing key.
 */
export const EMB_OUT = 'emb-out';

export interface BureauKeySet {
  /** our RSA key the bureau encrypts its reports to */
  report: ReturnType<typeof rsaKeyPair>;
  /** the bureau's report-signing key, pinned in its config */
  signing: ReturnType<typeof rsaKeyPair>;
  pin: string;
}

export interface TwoBureauKeys {
  dir: string;
  b1: BureauKeySet;
  emb: BureauKeySet;
}

export function makeTwoBureauKeys(): TwoBureauKeys {
  const dir = mkdtempSync(join(tmpdir(), 'bx-recv-bureaus-keys-'));
  const set = (name: string): BureauKeySet => {
    const signing = rsaKeyPair(dir, `${name}-signing`);
    const der = createPublicKey(signing.publicPem).export({ type: 'spki', format: 'der' });
    return { report: rsaKeyPair(dir, `${name}-report`), signing, pin: createHash('sha256').update(der).digest('hex') };
  };
  return { dir, b1: set('b1'), emb: set('emb') };
}

/** A detached RSA-PSS signature (SHA-256, salt 32) as the bureau's tooling makes it. */
export function signReport(keys: BureauKeySet, data: Buffer): Buffer {
  return sign('sha256', data, { key: readFileSync(keys.signing.keyFile), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
}

/** The report sections of a bureau: its own key and pins. */
export function reportsOf(keys: BureauKeySet) {
  return { rsaPrivateKeyFile: keys.report.keyFile, signingPublicKeyFile: keys.signing.pubFile, signingKeySha256: keys.pin, stableCheckSeconds: 0, decryptWorkers: 1 };
}

/** The two bureaus' config as written (routing: GOLD02 to EMB01, the rest to BUREAU01); `embPort` puts EMB01 on another port (one nothing listens on). */
export function twoBureauDocument(sshd: SshdServer, keys: TwoBureauKeys, workDir: string, embPort = sshd.port) {
  const retry = { attempts: 2, baseDelayMs: 20, maxDelayMs: 50 };
  return {
    issuer: { code: 'BXISSUER' },
    workDir,
    bureaus: [
      { code: 'BUREAU01', sftp: sshd.sftpConfig({ retry }), reports: reportsOf(keys.b1) },
      {
        code: 'EMB01', layout: 'emb-v1',
        sftp: sshd.sftpConfig({ retry, port: embPort, inboundDir: '/emb-in', outboundDir: `/${EMB_OUT}`, processedDir: `/${EMB_OUT}/done`, failedDir: `/${EMB_OUT}/failed` }),
        reports: reportsOf(keys.emb),
      },
    ],
    routing: { rules: [{ bureau: 'EMB01', when: { productCode: 'GOLD02' } }], default: 'BUREAU01' },
  };
}

/** The same, loaded. */
export function twoBureauConfig(sshd: SshdServer, keys: TwoBureauKeys, workDir: string, embPort = sshd.port): LoadedConfig {
  const config = configSchema.parse(twoBureauDocument(sshd, keys, workDir, embPort));
  resolveBureauLayouts(config, process.cwd(), true);
  return { ...config, configFile: join(workDir, 'config.yaml') };
}

/** One sshd holding both bureaus' folders, and their keys (in a mocha `before`; the suite goes pending without sshd). */
export async function startTwoBureauBench(ctx: Mocha.Context): Promise<{ sshd: SshdServer; keys: TwoBureauKeys; b1: ReportDrop; emb: ReportDrop; stop(): Promise<void> }> {
  requireSshd(ctx);
  const sshd = await startSshd();
  const keys = makeTwoBureauKeys();
  return {
    sshd, keys, b1: new ReportDrop(sshd.root, 'outbound'), emb: new ReportDrop(sshd.root, EMB_OUT),
    async stop() {
      await sshd.stop();
      rmSync(keys.dir, { recursive: true, force: true });
    },
  };
}

/** A sent batch of each bureau: BUREAU01's without a bureau code (sent before migration 005), EMB01's with its code. */
export async function seedBothBureaus(db: Db, b1Cards: number[], embCards: number[]): Promise<{ first: SeededBatch; other: SeededBatch }> {
  const first = await seedBatch(db, b1Cards);
  const other = await seedBatch(db, embCards);
  await db('perso_batches').where({ id: other.batchId }).update({ bureau_code: 'EMB01' });
  return { first, other };
}

/** A bureau's outbound folder on the server, as the bureau sees it. */
export class ReportDrop {
  constructor(private readonly root: string, readonly dir: string) {}

  /** Creates the folder (owned by the SFTP user) and empties it. */
  reset(): void {
    rmSync(join(this.root, this.dir), { recursive: true, force: true });
    mkdirSync(join(this.root, this.dir), { mode: 0o755 });
    const { uid, gid } = userIds('nobody');
    chownSync(join(this.root, this.dir), uid, gid);
  }

  /** Puts a report, signed by `keys` unless `signature` is null, two minutes old (the .sig first, as the bureau uploads it). */
  put(name: string, data: Buffer, signature: Buffer | null): void {
    if (signature) this.write(`${name}.sig`, signature);
    this.write(name, data);
  }

  files(sub = ''): string[] {
    try {
      return readdirSync(join(this.root, this.dir, sub), { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();
    } catch {
      return [];
    }
  }

  private write(name: string, data: Buffer): void {
    const file = join(this.root, this.dir, name);
    writeFileSync(file, data);
    const { uid, gid } = userIds('nobody');
    execFileSync('chown', [`${uid}:${gid}`, file]);
    const t = new Date(Date.now() - 120_000);
    utimesSync(file, t, t);
  }
}
