import { mkdtempSync, rmSync } from 'node:fs';
import knexFactory, { type Knex } from 'knex';
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
import type { TestDatabase } from '../helpers/db.js';
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

/** Transactions of this database waiting for a row lock (PostgreSQL, MariaDB). */
async function lockWaiters(db: Knex): Promise<number> {
  if ((db.client as { config: { client: string } }).config.client === 'pg') {
    const { rows } = await db.raw("select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'");
    return rows[0].n;
  }
  const [rows] = await db.raw("select count(*) as n from information_schema.innodb_trx where trx_state = 'LOCK WAIT'");
  return Number(rows[0].n);
}

/**
 * Resolves once `work` settled or some transaction waits for a lock, watching on a connection of its
 * own (the pool serves the two transactions); 10 s at most: the outcome is asserted either way.
 */
export async function settledOrWaiting(database: TestDatabase['database'], work: Promise<unknown>): Promise<void> {
  let settled = false;
  work.then(() => { settled = true; }, () => { settled = true; });
  const watcher = knexFactory(database.client === 'pg'
    ? { client: 'pg', connection: database.url, pool: { min: 0, max: 1 } }
    : { client: 'mysql2', connection: { uri: database.url } as never, pool: { min: 0, max: 1 } });
  const until = Date.now() + 10_000;
  try {
    while (!settled && Date.now() < until && (await lockWaiters(watcher)) === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    await watcher.destroy();
  }
}
