import { createWriteStream, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { dataKeyFromEnv } from '../config/secrets.js';
import { importContracts, type ImportResult } from '../contracts/import.js';
import { listContracts } from '../db/contracts.js';
import { openDatabase } from '../db/connection.js';
import { statusSummary, type StatusSummary } from '../db/status-summary.js';
import { migrateLatest } from '../db/migrate.js';
import { UsageError } from '../errors.js';
import type { Clock, ReceiveResult, SendResult } from '../jobs.js';
import { createLogger, type Logger } from '../log.js';
import { PanCipher } from '../security/pan.js';
import { makeProductionJobs } from '../wiring.js';
import { makeBureauSimulator, type AnsweredFile, type BureauSimulator } from './bureau.js';
import { BUREAU_STATE_FILE } from './bureau-state.js';
import { loadBureauSettings } from './settings.js';
import { checkFinalStates, type ConsistencyResult } from './demo-check.js';
import { writeDemoContracts, type DemoCardsWritten } from './demo-data.js';
import { initSandbox, type InitResult } from './init.js';
import { startSandbox } from './serve.js';

export interface DemoOptions {
  cards: number;
  /** default: a new temp folder */
  dir?: string;
  seed?: number;
  /** one line per step, for a person watching */
  progress?: (step: string) => void;
  /** default: a copy of process.env (the sandbox's .env fills in what is missing) */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /**
   * Run the exchange against another SFTP server (the tests use OpenSSH): its settings, and the
   * local folder it serves as "/", where the sandbox bureau answers instead of its own server.
   */
  server?: { sftp: Config['sftp']; root: string };
  /** another (empty or freshly migrated) database instead of the sandbox's SQLite file, e.g. PostgreSQL */
  database?: Config['database'];
}

/** Everything the demo did, for the summary and the tests. */
export interface DemoOutcome {
  sandbox: InitResult;
  config: LoadedConfig;
  generated: DemoCardsWritten;
  imported: ImportResult;
  sent: SendResult;
  answers: AnsweredFile[];
  received: ReceiveResult;
  check: ConsistencyResult;
  /** what `status` shows after the run: counts, batches, reports, stock */
  status: StatusSummary;
  logFile: string;
  contractsFile: string;
  /** true when every card reached a final state consistent with the bureau's report */
  ok: boolean;
}

const STEPS = 6;

/**
 * The whole exchange on this machine: a fresh sandbox, N generated contracts imported, the send job
 * uploading to the sandbox SFTP server, the sandbox bureau answering, the receive job applying its
 * report, and a check of every card's final state against that report.
 */
export async function runDemo(options: DemoOptions): Promise<DemoOutcome> {
  if (!Number.isInteger(options.cards) || options.cards < 1) throw new UsageError('--cards must be a whole number of at least 1');
  const step = (n: number, text: string) => options.progress?.(`[${n}/${STEPS}] ${text}`);
  const clock = options.clock ?? (() => new Date());
  const seed = options.seed ?? 1;

  if (options.dir && existsSync(options.dir) && readdirSync(options.dir).length) {
    throw new UsageError(`--dir ${options.dir} is not empty: the demo needs an empty or new folder`);
  }
  step(1, 'creating the sandbox: test keys, SFTP folders, config');
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'bureau-exchange-demo-'));
  const sandbox = await initSandbox(dir);
  const env = { ...(options.env ?? process.env) };
  const config = loadConfig(sandbox.configFile, env);
  if (options.database) config.database = options.database;
  const logFile = join(sandbox.dir, 'demo.log');
  const logStream = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  const log = createLogger({ level: 'info', destination: logStream });
  const cipher = new PanCipher(dataKeyFromEnv(config.pan.keyEnv, env)!);
  const db = openDatabase(config);
  let running: Awaited<ReturnType<typeof startBureau>> | undefined;
  try {
    running = await startBureau(config, sandbox, { log, seed, server: options.server });
    await migrateLatest(db);
    step(2, `importing ${options.cards.toLocaleString('en')} generated contracts`);
    const contractsFile = join(sandbox.dir, 'contracts.jsonl');
    const generated = await writeDemoContracts(contractsFile, options.cards, { seed, now: clock() });
    const imported = await importContracts(db, contractsFile, cipher, log);

    step(3, 'send job: validate, render, encrypt with OpenPGP, upload over SFTP');
    const jobs = makeProductionJobs({ config, db, cipher, log }, { clock, env });
    const sent = await jobs.send.run({ force: true });

    step(4, 'sandbox bureau: decrypt, check, answer with an RSA-encrypted report');
    const answers = await running.simulator.answerNewFiles();

    step(5, 'receive job: download, decrypt, parse and apply the report');
    const received = await jobs.receive.run();

    step(6, "checking every card's final state against the report");
    const check = checkFinalStates(await listContracts(db, { limit: options.cards + 1000 }), answers);
    const status = await statusSummary(db);
    const everyFileAnswered = answers.length > 0 && answers.length === sent.batches.length && answers.every((a) => a.accepted);
    const ok = check.consistent && received.quarantined.length === 0 && everyFileAnswered;
    return { sandbox, config, generated, imported, sent, answers, received, check, status, logFile, contractsFile, ok };
  } finally {
    await running?.close();
    await db.destroy();
    logStream.end();
    await once(logStream, 'finish');
  }
}

/** The sandbox server and bureau in this process, or only the bureau, answering on another server's folder. */
async function startBureau(
  config: LoadedConfig, sandbox: InitResult, options: { log: Logger; seed: number; server?: DemoOptions['server'] },
): Promise<{ simulator: BureauSimulator; close(): Promise<void> }> {
  if (!options.server) return startSandbox(config, { log: options.log, seed: options.seed, poll: false, keepDecisions: true });
  config.sftp = options.server.sftp;
  const simulator = makeBureauSimulator({
    config, sftpRoot: options.server.root, keysDir: sandbox.keysDir, stateFile: join(sandbox.dir, BUREAU_STATE_FILE),
    settings: loadBureauSettings(sandbox.settingsFile, { seed: options.seed }), log: options.log, keepDecisions: true,
  });
  return { simulator, close: () => simulator.stop() };
}
