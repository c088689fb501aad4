import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Config } from '../../src/config/schema.js';
import type { Db } from '../../src/db/connection.js';
import { makeReceiveJob, type ReceiveHooks } from '../../src/inbound/receive-job.js';
import type { ReceiveResult } from '../../src/jobs.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { Transport } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { BureauFolder, rsaKeyPair } from './fixtures.js';

/**
 * One real sshd, our RSA and OpenPGP keys, and a work folder, for the receive suites that put
 * reports on the server and run the real receive job (fuzz, local faults). Log lines are captured
 * (through the real scrubbing logger) so that a suite can look for what must never be printed.
 */
export interface ReceiveBench {
  server: SshdServer;
  bureau: BureauFolder;
  ours: ReturnType<typeof rsaKeyPair>;
  gpg: GpgHome;
  pgpPublicFile: string;
  pgpSecretFile: string;
  /** every log line written so far (scrubbed, as the program writes them) */
  logText(): string;
  log: Logger;
  config(workDir: string, reports?: Partial<Config['reports']>): Config;
  transport(config: Config): Transport;
  run(db: Db, config: Config, extra?: { hooks?: ReceiveHooks; sleep?: (ms: number) => Promise<void> }): Promise<ReceiveResult>;
  stop(): Promise<void>;
}

/** In a mocha `before`: starts the bench (the suite goes pending without sshd, fails under CI). */
export async function startReceiveBench(ctx: Mocha.Context): Promise<ReceiveBench> {
  requireSshd(ctx);
  const server = await startSshd();
  const keys = mkdtempSync(join(tmpdir(), 'bx-bench-keys-'));
  const ours = rsaKeyPair(keys, 'ours');
  const gpg = createGpgHome();
  const fpr = gpg.generateKey('BX Issuer <issuer@example.test>');
  const pgpPublicFile = gpg.exportPublicKey(fpr);
  const pgpSecretFile = gpg.exportSecretKey(fpr);
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({ write(chunk, _encoding, done) { lines.push(chunk.toString()); done(); } }),
  });
  const bench: ReceiveBench = {
    server, bureau: new BureauFolder(server.root), ours, gpg, pgpPublicFile, pgpSecretFile, log,
    logText: () => lines.join(''),
    config: (workDir, reports = {}) => testConfig({
      workDir,
      sftp: server.sftpConfig(),
      // signatures are proved in report-signatures.spec.ts; these suites fuzz and fault what comes after them
      reports: { signatures: 'off', rsaPrivateKeyFile: ours.keyFile, pgpPrivateKeyFile: pgpSecretFile, stableCheckSeconds: 0, decryptWorkers: 1, ...reports },
    }),
    transport: (config) => makeSftpTransport(config.sftp, { log }),
    run: (db, config, extra = {}) =>
      makeReceiveJob({ db, config, log, transport: bench.transport(config), hooks: extra.hooks, sleep: extra.sleep }).run(),
    async stop() {
      await server.stop();
      gpg.cleanup();
      rmSync(keys, { recursive: true, force: true });
    },
  };
  return bench;
}

/** Fails with a clear message when `promise` does not settle within `ms`: a hang must fail, not stall. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
