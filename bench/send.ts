/**
 * Send benchmark: N Marked cards (default 1,000,000) from SQLite and from PostgreSQL to one encrypted
 * file on a loopback OpenSSH server, end to end (claim → render → encrypt → upload → confirm), against
 * the shell pipeline of bench/send-shell.sh on the same database in the same run.
 *
 *   node --import tsx bench/send.ts [--cards 1000000] [--db sqlite,pg] [--rounds 1] [--no-shell]
 *
 * Each round runs, on the same seeded cards: the shell pipeline, the Node send, then (the cards Marked
 * again each time) the shell pipeline with the minimal bookkeeping (one set-based claim and confirm) and
 * with the job's own bookkeeping writes; with several rounds, a row of medians follows.
 *
 * Each Node run is a child process (bench/send-child.ts, compiled first into bench/.build as production
 * runs the build), so its peak RSS and CPU are the send's alone (seeding is not counted).
 * Needs root (the test sshd chroots), gpg, sqlite3 and psql.
 *
 * BX_BENCH_CACHE=<dir> keeps the seeded cards for the next runs (a SQLite file there; on PostgreSQL a
 * template database `bx_bench_<n>_pan_v2_m<last migration>`), named by the last migration: adding one
 * seeds again, and drops the PostgreSQL templates made before it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Knex } from 'knex';
import type { Config } from '../src/config/schema.js';
import { openDatabase, type Dialect } from '../src/db/connection.js';
import { PanCipher } from '../src/security/pan.js';
import { makeCard } from '../test/helpers/cards.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { startSshd, type SshdServer } from '../test/helpers/sshd.js';
import { makeBureauKeys, sendConfig } from '../test/outbound/harness.js';
import { withSftp } from '../test/outbound/job-harness.js';
import { CORES, machineCpuSeconds } from './machine-cpu.js';
import type { ChildSpec, NodeFigures } from './send-child.js';

/**
 * The number of the last migration: caches are named by it, so that one made before a later
 * migration is seeded again rather than migrated on every copy (a migration that rewrites the cards
 * would then be timed, or leave each copy laid out differently from a database seeded afresh).
 */
const SCHEMA = readdirSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations'))
  .filter((file) => /^\d{3}_.*\.ts$/.test(file)).sort().at(-1)!.slice(0, 3);

const HERE = fileURLToPath(new URL('.', import.meta.url));
const DATE = '2026-11-26';
/**
 * The Node side runs compiled, as in production (`npm run build`), not through tsx: tsx's loader costs
 * ~40 MB of RSS per thread. Compiled into bench/.build (not dist/, which the CLI would then run).
 */
const CHILD = join(HERE, '.build', 'bench', 'send-child.js');

/** BOOKKEEPING of send-shell.sh: none, the minimal claim and confirm, or the job's own writes. */
type Bookkeeping = '' | 'minimal' | '1';
const BOOKKEEPING_LABEL: Record<Bookkeeping, string> = { '': '', minimal: ' with the minimal bookkeeping', '1': " with the job's bookkeeping writes" };



await main();

async function main(): Promise<void> {
  const cards = Number(argValue('--cards') ?? 1_000_000);
  const dialects = (argValue('--db') ?? 'sqlite,pg').split(',') as Dialect[];
  const rounds = Number(argValue('--rounds') ?? 1);
  const withShell = !process.argv.includes('--no-shell');
  buildChild();
  const sshd = await startSshd();
  const keys = makeBureauKeys();
  try {
    for (const dialect of dialects) {
      const database = await createTestDatabase(dialect);
      try {
        const panKey = await seeded(dialect, database, cards);
        const config = withSftp({ ...sendConfig(keys), database: database.database }, sshd);
        config.perso.maxCardsPerFile = Math.max(cards, 1);
        // on a machine shared past saturation, a 1M confirm can outlast the default 60 s lease (the run then
        // fails after the batch was sent; the next would resume): the lease only guards against a second runner
        config.daemon.leaseTtlSeconds = 600;
        const bench: Bench = { dialect, cards, database, sshd, recipientKey: keys.publicKeyFile, withShell, spec: { config, panKey: panKey.toString('base64'), businessDate: DATE } };
        const rows: Round[] = [];
        for (let round = 0; round < rounds; round++) {
          if (round > 0) await resetSent(dialect, database, cards);
          rows.push(await oneRound(bench));
          printRow(bench, rows[rows.length - 1]!);
        }
        if (rounds > 1) printRow(bench, medianRound(rows), 'median');
        rmSync(config.workDir, { recursive: true, force: true });
      } finally {
        await database.db.destroy();
        await database.drop();
      }
    }
  } finally {
    await sshd.stop();
    keys.gpg.cleanup();
  }
}

interface Bench {
  dialect: Dialect;
  cards: number;
  database: { db: Knex; database: Config['database'] };
  sshd: SshdServer;
  recipientKey: string;
  withShell: boolean;
  spec: ChildSpec;
}

/** One of each, in this order, on the same seeded cards: the shell pipeline, the Node send, the shell pipeline with the minimal and with the job's bookkeeping. */
interface Round {
  node: NodeFigures;
  shell?: number;
  minimal?: number;
  kept?: number;
}


async function oneRound(bench: Bench): Promise<Round> {
  const { dialect, database, sshd } = bench;
  const shellRun = (bookkeeping: Bookkeeping) => {
    const run = runShell(dialect, database.database, bench.recipientKey, sshd, bookkeeping);
    log(`${dialect}: shell pipeline${BOOKKEEPING_LABEL[bookkeeping]} ${run.seconds.toFixed(1)} s, ${mb(run.bytes)} MB${machineUse(run.machineCpu, run.seconds)}`);
    clearInbound(sshd);
    return run.seconds;
  };
  const shell = bench.withShell ? shellRun('') : undefined;
  const node = await runNodeChild(bench.spec);
  log(`${dialect}: node send ${node.seconds.toFixed(1)} s (CPU ${node.cpuSeconds.toFixed(1)} s), peak RSS ${node.maxRssMb} MB, ${node.cardsSent} cards, ${mb(inboundBytes(sshd))} MB ` +
    `(${Object.entries(node.phases).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')})`);
  if (node.machinePhases) log(`${dialect}: node send, ${nodeMachineUse(node, shell)}`);
  clearInbound(sshd);
  if (!bench.withShell) return { node, shell };
  await resetSent(dialect, database, bench.cards);
  const minimal = shellRun('minimal');
  await resetSent(dialect, database, bench.cards);
  return { node, shell, minimal, kept: shellRun('1') };
}

/** | database | cards | Node send | peak RSS | shell | Node / shell | shell, minimal bookkeeping | Node / that | shell, job's bookkeeping | Node / that | */
function printRow(bench: Bench, row: Round, label = ''): void {
  const ratio = (shell?: number) => (shell ? `${shell.toFixed(1)} s | ${(row.node.seconds / shell).toFixed(2)}×` : '– | –');
  console.log(`| ${bench.dialect}${label ? ` (${label})` : ''} | ${bench.cards.toLocaleString('en')} | ${row.node.seconds.toFixed(1)} s | ${row.node.maxRssMb} MB | ${ratio(row.shell)} | ${ratio(row.minimal)} | ${ratio(row.kept)} |`);
}

/** Each column's median over the rounds (the lower middle one for an even count; the peak RSS: the highest). */
function medianRound(rows: Round[]): Round {
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  const of = (pick: (r: Round) => number | undefined) => {
    const values = rows.map(pick).filter((v): v is number => v !== undefined);
    return values.length ? median(values) : undefined;
  };
  return {
    node: { ...rows[0]!.node, seconds: of((r) => r.node.seconds)!, maxRssMb: Math.max(...rows.map((r) => r.node.maxRssMb)) },
    shell: of((r) => r.shell), minimal: of((r) => r.minimal), kept: of((r) => r.kept),
  };
}

function buildChild(): void {
  const tsc = spawnSync(process.execPath, [join(HERE, '..', 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(HERE, 'tsconfig.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error('compiling the benchmark child failed');
}

function runNodeChild(spec: ChildSpec): Promise<NodeFigures> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...(process.env.BX_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), CHILD], {
      env: { ...process.env, BX_BENCH_SPEC: JSON.stringify(spec) }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`node send exited ${code}`))));
  });
}

/** bench/send-shell.sh; with `bookkeeping`, also a claim's and a confirm's writes through the database's CLI (minimal, or the job's). */
function runShell(dialect: Dialect, database: Config['database'], recipientKey: string, sshd: SshdServer, bookkeeping: Bookkeeping): { seconds: number; bytes: number; machineCpu?: number } {
  const source = dialect === 'sqlite' ? database.filename : database.url!;
  const machineBefore = machineCpuSeconds();
  const start = Date.now();
  const run = spawnSync('bash', [join(HERE, 'send-shell.sh'), dialect, source, recipientKey, String(sshd.port), sshd.privateKeyFile, sshd.username, '/inbound'], {
    stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, BOOKKEEPING: bookkeeping },
  });
  if (run.status !== 0) throw new Error(`send-shell.sh exited ${run.status}`);
  const seconds = (Date.now() - start) / 1000;
  const machineAfter = machineCpuSeconds();
  return { seconds, bytes: inboundBytes(sshd), ...(machineBefore !== undefined && machineAfter !== undefined ? { machineCpu: machineAfter - machineBefore } : {}) };
}

/**
 * Seeds the database (minutes for 1M cards). With BX_BENCH_CACHE=<dir>, a seeded SQLite file is kept
 * there and copied for the next runs (PostgreSQL: pgSeeded).
 */
async function seeded(dialect: Dialect, database: { db: Knex; database: Config['database'] }, cards: number): Promise<Buffer> {
  const cache = process.env.BX_BENCH_CACHE;
  const cached = cache && join(cache, cachedFileName(dialect, cards));
  if (dialect === 'pg' && cached) return pgSeeded(database, cards, cached);
  if (dialect === 'sqlite' && cached && existsSync(cached)) {
    await database.db.destroy();
    copyFileSync(cached, database.database.filename);
    for (const suffix of ['-wal', '-shm']) rmSync(database.database.filename + suffix, { force: true });
    database.db = openDatabase(database);
    return readFileSync(cached + '.key');
  }
  const panKey = randomBytes(32);
  const start = Date.now();
  await seed(database.db, new PanCipher(panKey), cards);
  log(`${dialect}: seeded ${cards} cards in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  if (dialect === 'sqlite' && cached) {
    mkdirSync(cache, { recursive: true });
    await database.db.raw('pragma wal_checkpoint(TRUNCATE)');
    copyFileSync(database.database.filename, cached);
    writeFileSync(cached + '.key', panKey, { mode: 0o600 });
  }
  return panKey;
}

/**
 * PostgreSQL with BX_BENCH_CACHE: the seeded cards are kept as a template database on the server (its
 * PAN key in the cache folder), which each run and round copies (seconds, where seeding takes minutes).
 */
async function pgSeeded(database: { db: Knex; database: Config['database'] }, cards: number, cached: string): Promise<Buffer> {
  const template = `bx_bench_${cards}_pan_v2_m${SCHEMA}`;
  const url = new URL(database.database.url!);
  const name = url.pathname.slice(1);
  const admin = openDatabase({ database: { ...database.database, url: Object.assign(new URL(url), { pathname: '/postgres' }).toString() } });
  try {
    const exists = async () => (await admin.raw('select 1 from pg_database where datname = ?', [template])).rows.length > 0;
    if (!(await exists()) || !existsSync(cached + '.key')) {
      const panKey = randomBytes(32);
      const start = Date.now();
      await seed(database.db, new PanCipher(panKey), cards);
      log(`pg: seeded ${cards} cards in ${((Date.now() - start) / 1000).toFixed(1)} s`);
      await database.db.destroy();
      // this one, and those made before a later migration (their disk space is freed)
      const old = await admin.raw('select datname from pg_database where datname like ? and datistemplate = false', [`bx_bench_${cards}_pan_v2%`]);
      for (const { datname } of old.rows as Array<{ datname: string }>) await admin.raw(`drop database if exists "${datname}"`);
      await admin.raw(`create database ${template} template ${name} strategy file_copy`);
      mkdirSync(dirname(cached), { recursive: true });
      writeFileSync(cached + '.key', panKey, { mode: 0o600 });
    } else {
      await database.db.destroy();
      await admin.raw(`drop database ${name} with (force)`);
      // file_copy: copied as files (WAL_LOG, the default, would write the whole database to the WAL)
      await admin.raw(`create database ${name} template ${template} strategy file_copy`);
    }
  } finally {
    await admin.destroy();
  }
  database.db = openDatabase(database);
  await database.db.raw('vacuum analyze');
  // what the copy and the vacuum wrote reaches the disk now, not during the next timed run
  await database.db.raw('checkpoint');
  return readFileSync(cached + '.key');
}

/**
 * The cached SQLite file of n cards (PostgreSQL: the name its PAN key file starts with), named by the
 * stored PAN format its values are in (v2: bound to the card). Each database has its own key: a run
 * seeding one must not replace the key of the other's cards.
 */
function cachedFileName(dialect: Dialect, cards: number): string {
  return dialect === 'pg' ? `pg-${cards}-pan-v2-m${SCHEMA}` : `sqlite-${cards}-pan-v2-m${SCHEMA}.sqlite`;
}


/** Bulk insert of n Marked physical cards with their clients (explicit ids, 500 rows per statement). */
async function seed(db: Knex, cipher: PanCipher, n: number): Promise<void> {
  const now = new Date().toISOString();
  const CHUNK = 500;
  for (let start = 0; start < n; start += CHUNK) {
    const clients: Record<string, unknown>[] = [];
    const contracts: Record<string, unknown>[] = [];
    for (let i = start; i < Math.min(n, start + CHUNK); i++) {
      const card = makeCard(i + 1);
      const pan = cipher.encrypt(card.pan, { contractNumber: card.contractId, plasticId: card.plasticId });
      clients.push({
        id: i + 1, title: card.title, first_name: card.firstName, last_name: card.lastName, company_name: '', address_line1: card.addressLine1,
        address_line2: '', address_line3: '', postal_code: card.postalCode, city: card.city, country: card.country, created_at: now, updated_at: now,
      });
      contracts.push({
        id: i + 1, contract_number: card.contractId, plastic_id: card.plasticId, client_id: i + 1, card_form: 'physical', plastic_seq: 2,
        pan_enc: pan.panEnc, pan_last4: pan.panLast4, pan_hmac: pan.panHmac, expiry: card.expiry, request_type: 'NEW', product_code: card.productCode,
        chip_profile: card.chipProfile, delivery_method: 1, pin_mailer: 'Y', production_status: 'Marked', created_at: now, updated_at: now,
      });
    }
    await db.transaction(async (trx) => {
      await trx('clients').insert(clients);
      await trx('card_contracts').insert(contracts);
    });
  }
  if (db.client.config.client === 'pg') await db.raw('analyze');
}

/** The cards Marked again, as seeded, after a send (not timed): the cached SQLite file copied again, or the writes undone and the tables rewritten. */
async function resetSent(dialect: Dialect, database: { db: Knex; database: Config['database'] }, cards: number): Promise<void> {
  const cache = process.env.BX_BENCH_CACHE;
  if (cache && (dialect === 'pg' || existsSync(join(cache, cachedFileName(dialect, cards))))) {
    await seeded(dialect, database, cards);
    return;
  }
  const { db } = database;
  await db.transaction(async (trx) => {
    await trx('contract_events').delete();
    await trx('batch_items').delete();
    await trx('card_contracts').update({ production_status: 'Marked', batch_id: null });
    await trx('perso_batches').delete();
  });
  await db.raw(dialect === 'pg' ? 'vacuum full analyze' : 'vacuum');
}

/** ", machine CPU 14.4 s (67 % of 2 cores)": what every process on the machine spent meanwhile */
function machineUse(machineCpu: number | undefined, seconds: number): string {
  return machineCpu === undefined ? '' : `, machine CPU ${machineCpu.toFixed(1)} s (${Math.round((machineCpu / (seconds * CORES)) * 100)} % of ${CORES} cores)`;
}

/**
 * The machine's CPU in the send up to its upload (the claim with the file made and sent beside it) and
 * in its confirm, and the shortest the send could take with that work: every core busy until the
 * upload, then the confirm (one transaction, on one core) as long as it took. A send that does this
 * work cannot be faster than that on this machine, however its threads are arranged.
 */
function nodeMachineUse(node: NodeFigures, bare: number | undefined): string {
  const tail = ['confirming', 'confirm'];
  const sum = (of: Record<string, number>, confirm: boolean) =>
    Object.entries(of).filter(([phase]) => tail.includes(phase) === confirm).reduce((total, [, v]) => total + v, 0);
  const [toUpload, confirm] = [sum(node.phases, false), sum(node.phases, true)];
  const cpuToUpload = sum(node.machinePhases!, false);
  const bound = cpuToUpload / CORES + confirm;
  return `machine CPU ${(cpuToUpload + sum(node.machinePhases!, true)).toFixed(1)} s: up to the upload ${cpuToUpload.toFixed(1)} s in ${toUpload.toFixed(1)} s` +
    ` (${Math.round((cpuToUpload / (toUpload * CORES)) * 100)} % of ${CORES} cores), then the confirm ${confirm.toFixed(1)} s;` +
    ` with every core busy until the upload it would take ${bound.toFixed(1)} s${bare ? ` (${(bound / bare).toFixed(2)}× the bare pipeline)` : ''}`;
}

function clearInbound(sshd: SshdServer): void {
  for (const name of readdirSync(join(sshd.root, 'inbound'))) rmSync(join(sshd.root, 'inbound', name), { force: true });
}

function inboundBytes(sshd: SshdServer): number {
  return readdirSync(join(sshd.root, 'inbound')).reduce((sum, name) => sum + statSync(join(sshd.root, 'inbound', name)).size, 0);
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(0);
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}
