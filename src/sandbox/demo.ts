import { createWriteStream, existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
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
import { messageOf, UsageError } from '../errors.js';
import type { Clock, ReceiveResult, SendResult } from '../jobs.js';
import { createLogger } from '../log.js';
import { PanCipher } from '../security/pan.js';
import { makeProductionJobs } from '../wiring.js';
import type { AnsweredFile } from './bureau.js';
import { checkFinalStates, type ConsistencyResult } from './demo-check.js';
import { writeDemoContracts, type DemoCardsWritten } from './demo-data.js';
import { initSandbox, type InitResult } from './init.js';
import { startSandbox, type RunningSandbox } from './serve.js';

export interface DemoOptions {
  cards: number;
  /** default: a new temp folder */
  dir?: string;
  seed?: number;
  /** how many sandbox bureaus (1 or 2, default 2): the second takes the premium cards in its own format */
  bureaus?: number;
  /** one line per step, for a person watching */
  progress?: (step: string) => void;
  /** default: process.env; its BX_ variables are set aside (sandboxEnv), the sandbox's .env fills in the rest */
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /**
   * Run the first bureau's exchange against another SFTP server (the tests use OpenSSH): its settings,
   * and the local folder it serves as "/", where the sandbox bureau answers instead of its own server.
   */
  server?: { sftp: Config['sftp']; root: string };
  /** another (empty or freshly migrated) database instead of the sandbox's SQLite file, e.g. PostgreSQL */
  database?: Config['database'];
}

/** One bureau of the demo: where its account's files are, and what it answered. */
export interface DemoBureau {
  code: string;
  /** its layout's name (perso-v1, emb-v1) */
  layout: string;
  /** the local folder its SFTP account serves as "/", and its folders there */
  sftpRoot: string;
  sftp: Config['sftp'];
  /** its own keys */
  keysDir: string;
  /** its answers, one per file it received */
  answers: AnsweredFile[];
  /** its reports the receive job did not take: still in its outbound folder */
  notReceived: AnsweredFile[];
}

/** Everything the demo did, for the summary and the tests. */
export interface DemoOutcome {
  sandbox: InitResult;
  config: LoadedConfig;
  generated: DemoCardsWritten;
  imported: ImportResult;
  sent: SendResult;
  /** every bureau's answers, in config order */
  answers: AnsweredFile[];
  /** per bureau, in config order */
  bureaus: DemoBureau[];
  received: ReceiveResult;
  check: ConsistencyResult;
  /** the caller's BX_ variables the demo set aside (they would have replaced the sandbox's database, PAN key…) */
  envSetAside: string[];
  /** what `status` shows after the run: counts, batches, reports, stock */
  status: StatusSummary;
  logFile: string;
  contractsFile: string;
  /**
   * true when every file was answered and accepted, every bureau's reports were received and
   * applied, and every card reached a final state consistent with its bureau's report
   */
  ok: boolean;
}

const STEPS = 6;

/**
 * Most cards one demo makes. It keeps every bureau decision and reads every card back to check
 * them, in memory; without a bound a mistyped `--cards 99999999999999999999` wrote contracts until
 * the disk was full.
 */
export const MAX_DEMO_CARDS = 1_000_000;
export const CARDS_USAGE = `--cards must be a whole number of at least 1 and at most ${MAX_DEMO_CARDS.toLocaleString('en')}`;
/**
 * A seed: at most 15 digits, so the number is exact (a larger one was rounded, and blamed on
 * bureau.yaml with its digits masked as if it were a PAN).
 */
export const SEED_PATTERN = /^-?\d{1,15}$/;
export const SEED_USAGE = '--seed must be a whole number of at most 15 digits, e.g. 7';

/**
 * The whole exchange on this machine: a fresh sandbox with two bureaus, N generated contracts
 * imported, the send job uploading each bureau's cards to its SFTP server in its format, each
 * sandbox bureau reading its file back and answering, the receive job taking every bureau's
 * reports, and a check of every card's final state against its bureau's report (the cards of a
 * report not received must still be InProduction: the summary then says which).
 */
export async function runDemo(options: DemoOptions): Promise<DemoOutcome> {
  if (!Number.isInteger(options.cards) || options.cards < 1 || options.cards > MAX_DEMO_CARDS) throw new UsageError(CARDS_USAGE);
  if (options.seed !== undefined && !SEED_PATTERN.test(String(options.seed))) throw new UsageError(SEED_USAGE);
  const step = (n: number, text: string) => options.progress?.(`[${n}/${STEPS}] ${text}`);
  const clock = options.clock ?? (() => new Date());
  const seed = options.seed ?? 1;

  if (options.dir && existsSync(options.dir)) {
    if (!statSync(options.dir).isDirectory()) throw new UsageError(`--dir ${options.dir} is a file: the demo needs an empty or new folder`);
    if (readdirSync(options.dir).length) throw new UsageError(`--dir ${options.dir} is not empty: the demo needs an empty or new folder`);
  }
  const count = options.bureaus ?? 2;
  step(1, `creating the sandbox: test keys, ${count === 1 ? 'a bureau with its SFTP server' : `${count} bureaus with their SFTP servers`}, config`);
  const dir = options.dir ?? temporaryFolder();
  const sandbox = await initSandbox(dir, { bureaus: count });
  const { env, setAside: envSetAside } = sandboxEnv(options.env ?? process.env);
  const config = loadConfig(sandbox.configFile, env);
  if (options.database) config.database = options.database;
  if (options.server) config.sftp = config.bureaus[0]!.sftp = options.server.sftp;
  const logFile = join(sandbox.dir, 'demo.log');
  const logStream = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
  const log = createLogger({ level: 'info', destination: logStream });
  const cipher = new PanCipher(dataKeyFromEnv(config.pan.keyEnv, env)!);
  const db = openDatabase(config);
  let running: RunningSandbox | undefined;
  try {
    const servers = options.server ? { [config.bureaus[0]!.code]: { root: options.server.root } } : undefined;
    running = await startSandbox(config, { log, seed, poll: false, keepDecisions: true, servers });
    await migrateLatest(db);
    step(2, `importing ${options.cards.toLocaleString('en')} generated contracts`);
    const contractsFile = join(sandbox.dir, 'contracts.jsonl');
    const generated = await writeDemoContracts(contractsFile, options.cards, { seed, now: clock() });
    const imported = await importContracts(db, contractsFile, cipher, log);

    step(3, 'send job: route each card, validate, render in its bureau\'s format, encrypt with OpenPGP, upload over SFTP');
    const jobs = makeProductionJobs({ config, db, cipher, log }, { clock, env });
    const sent = await jobs.send.run({ force: true });

    step(4, 'sandbox bureaus: decrypt, read back with their layout, check, answer with a signed, encrypted report');
    const answers = await running.answerNewFiles();

    step(5, 'receive job: download, decrypt, verify, parse and apply the reports');
    const received = await jobs.receive.run();

    step(6, "checking every card's final state against its bureau's report");
    const bureaus = demoBureaus(running, answers);
    const notReceived = bureaus.flatMap((b) => b.notReceived);
    const taken = answers.filter((a) => !notReceived.includes(a));
    const check = checkFinalStates(await listContracts(db, { limit: options.cards + 1000 }), taken, notReceived);
    const status = await statusSummary(db);
    const everyFileAnswered = answers.length > 0 && answers.length === sent.batches.length && answers.every((a) => a.accepted);
    const ok = check.consistent && received.quarantined.length === 0 && everyFileAnswered && notReceived.length === 0;
    return { sandbox, config, generated, imported, sent, answers, bureaus, received, check, status, envSetAside, logFile, contractsFile, ok };
  } finally {
    await running?.close();
    await db.destroy();
    logStream.end();
    await once(logStream, 'finish');
  }
}

/**
 * The environment the demo's config and jobs read: the caller's without its BX_ variables (but
 * KEPT_ENV), which win over the sandbox's config and .env. With BX_DATABASE_URL exported (a production
 * host, the service's container) the demo imported its generated cards into that database, and its
 * send claimed every card Marked there, real ones too, into a file for the sandbox bureau, which
 * then reported them rejected or shipped; an exported BX_PAN_KEY encrypted the sandbox's PANs under
 * a key its .env does not hold.
 */
/** BX_ variables that change nothing the demo or its printed commands do: --config wins over BX_CONFIG. */
const KEPT_ENV = new Set(['BX_DEBUG', 'BX_CONFIG']);

export function sandboxEnv(base: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; setAside: string[] } {
  const setAside = Object.keys(base).filter((name) => name.startsWith('BX_') && !KEPT_ENV.has(name) && base[name] !== undefined).sort();
  const env = Object.fromEntries(Object.entries(base).filter(([name]) => !setAside.includes(name)));
  return { env, setAside };
}

/** A new temporary folder for the demo, or a usage error naming TMPDIR's folder and --dir. */
function temporaryFolder(): string {
  try {
    return mkdtempSync(join(tmpdir(), 'bureau-exchange-demo-'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? messageOf(err);
    throw new UsageError(`cannot make a temporary folder in ${tmpdir()} (TMPDIR): ${why}; give the demo a folder with --dir DIR`);
  }
}

/** Each bureau's answers, and those whose report still waits in its outbound folder (not taken by the receive job). */
function demoBureaus(running: RunningSandbox, answers: AnsweredFile[]): DemoBureau[] {
  return running.bureaus.map((b) => {
    const mine = answers.filter((a) => a.bureau === b.code);
    return {
      code: b.code, layout: b.config.perso.layout, sftpRoot: b.sftpRoot, sftp: b.config.sftp, keysDir: b.paths.keysDir, answers: mine,
      notReceived: mine.filter((a) => existsSync(join(b.sftpRoot, b.config.sftp.outboundDir, a.reportName))),
    };
  });
}
