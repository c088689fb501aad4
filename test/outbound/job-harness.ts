import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { makeSendJob, type SendFaultPoint, type SendJobDeps } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import type { RemoteSession, Transport } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { clearSendTables, insertCards } from './fixtures.js';
import { noUploadDuringClaim } from './mid-upload.js';
import { contractIdsOf, contractsByStatus, decryptedRecords, filesIn, makeBureauKeys, removeDir, sendConfig, twoBureauServer, type BureauKeys } from './harness.js';
import type { ChildSpec } from './send-child.js';

const SEND_CHILD = fileURLToPath(new URL('./send-child.ts', import.meta.url));

/** What a send run in a child process (send-child.ts) starts from: see childSendScene. */
export interface ChildSendScene {
  db: Knex;
  cipher: PanCipher;
  config: Config;
  /** the child's spec, without a pause point */
  spec: Omit<ChildSpec, 'pauseAt'>;
}

/**
 * For the specs whose send runs in a child process: empty send tables and server folder, a fresh PAN
 * key, a config on the test's database (`database`: the child opens its own connection) with files of
 * `maxCardsPerFile`, and the cards 1…`cards` Marked.
 */
export async function childSendScene(
  db: Knex, database: Config['database'], server: { sshd: SshdServer; keys: BureauKeys },
  options: { cards: number; maxCardsPerFile: number; businessDate: string; daemon?: Partial<Config['daemon']> },
): Promise<ChildSendScene> {
  await clearSendTables(db);
  for (const name of readdirSync(join(server.sshd.root, 'inbound'))) rmSync(join(server.sshd.root, 'inbound', name), { force: true });
  const panKey = randomBytes(32);
  const cipher = new PanCipher(panKey);
  const base = withSftp(sendConfig(server.keys), server.sshd);
  const config: Config = {
    ...base, database, perso: { ...base.perso, maxCardsPerFile: options.maxCardsPerFile }, daemon: { ...base.daemon, ...options.daemon },
  };
  await insertCards(db, cipher, 1, options.cards);
  return { db, cipher, config, spec: { config, panKey: panKey.toString('base64'), businessDate: options.businessDate } };
}

/** A send running to its end in its own process (send-child.ts without a pause point). */
export interface SendProcess {
  child: ChildProcess;
  /** resolves once the child told us its send starts */
  started: Promise<void>;
  /** how it ended: its exit code or the signal that killed it, and everything it wrote */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
}

export function startSendProcess(spec: Omit<ChildSpec, 'pauseAt'>): SendProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', SEND_CHILD], {
    env: { ...process.env, BX_SEND_CHILD: JSON.stringify(spec) }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, output }));
  });
  const started = new Promise<void>((resolve, reject) => {
    child.on('message', (message: { started?: boolean }) => message.started && resolve());
    void ended.then(({ code, signal }) => reject(new Error(`the send child ended (${signal ?? `exit ${code}`}) before it started:\n${output}`)));
  });
  started.catch(() => undefined);
  return { child, started, ended };
}

/** A send job on the test sshd, with the given config and extra deps (faults, transport…). */
export function sendJobFor(db: Knex, cipher: PanCipher, config: Config, sshd: SshdServer, extra: Partial<SendJobDeps> = {}) {
  const transport = makeSftpTransport(config.sftp, { log: silentLogger });
  return makeSendJob({ db, config, cipher, transport, log: silentLogger, ...extra });
}

/** Runs the send job with a fault at `point` (as a crash there would stop it); checks that the run failed there. */
export async function sendStoppedAt(db: Knex, cipher: PanCipher, config: Config, sshd: SshdServer, point: SendFaultPoint, businessDate: string): Promise<void> {
  const faults = { at: (p: SendFaultPoint) => { if (p === point) throw new Error(`injected at ${point}`); } };
  await assert.rejects(sendJobFor(db, cipher, config, sshd, { faults }).run({ businessDate }), new RegExp(`injected at ${point}`));
}

export function withSftp(config: Config, sshd: SshdServer, overrides: Partial<Config['sftp']> = {}): Config {
  return { ...config, sftp: sshd.sftpConfig(overrides) };
}

/** The final (delivered) files in the server's inbound folder. */
export function remoteFiles(sshd: SshdServer): string[] {
  return filesIn(join(sshd.root, 'inbound'));
}

/**
 * The product invariant: every expected card is in exactly one delivered file, nothing else is,
 * every batch is sent and its cards InProduction, and no partial or outbox file is left.
 */
export async function assertDeliveredExactlyOnce(db: Knex, sshd: SshdServer, keys: BureauKeys, config: Config, expected: string[]): Promise<void> {
  const names = remoteFiles(sshd);
  assert.deepEqual(names.filter((n) => !n.endsWith('.dat.pgp')), [], 'no partial file left on the server');
  const seen: string[] = [];
  for (const name of names) seen.push(...contractIdsOf(decryptedRecords(keys, join(sshd.root, 'inbound', name))));
  assert.equal(new Set(seen).size, seen.length, `a card arrived twice: ${seen.join(',')}`);
  assert.deepEqual([...seen].sort(), [...expected].sort(), 'the cards in files are the cards marked');
  const batches = await db('perso_batches').select('file_name', 'state').orderBy('id');
  assert.deepEqual(batches.map((b: any) => b.state), batches.map(() => 'sent'));
  assert.deepEqual(batches.map((b: any) => b.file_name).sort(), names, 'one batch per delivered file');
  assert.deepEqual(((await contractsByStatus(db)).InProduction ?? []).sort(), [...expected].sort());
  assert.deepEqual(filesIn(join(config.workDir, 'outbox')), [], 'outbox empty');
}

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * Beyond assertDeliveredExactlyOnce: each card names the batch whose file holds it, and each batch
 * row agrees with its file on the server (size, SHA-256, record count, items).
 */
export async function assertBatchesAgree(db: Knex, sshd: SshdServer, keys: BureauKeys): Promise<void> {
  const inbound = join(sshd.root, 'inbound');
  for (const name of filesIn(inbound)) {
    const file = join(inbound, name);
    const cards = contractIdsOf(decryptedRecords(keys, file));
    const batch = await db('perso_batches').where({ file_name: name }).first();
    assert.ok(batch, `a batch row for ${name}`);
    assert.equal(batch.state, 'sent');
    assert.equal(Number(batch.enc_size), statSync(file).size, `${name}: the recorded size is the delivered file's`);
    assert.equal(batch.enc_sha256, sha256Of(file), `${name}: the recorded SHA-256 is the delivered file's`);
    assert.equal(Number(batch.record_count), cards.length, `${name}: the recorded count is the file's`);
    const items = await db('batch_items as bi').join('card_contracts as c', 'c.id', 'bi.contract_id').where('bi.batch_id', batch.id)
      .orderBy('bi.record_number').select('c.contract_number', 'c.production_status', 'c.batch_id');
    assert.deepEqual(items.map((i: any) => i.contract_number), cards, `${name}: the batch's items are the file's cards, in order`);
    for (const item of items) {
      assert.equal(item.production_status, 'InProduction');
      assert.equal(Number(item.batch_id), Number(batch.id), `card ${item.contract_number} names the batch whose file holds it`);
    }
  }
}

/** Wraps a transport so that uploads fail in the given way (after leaving what a real failure leaves). */
export function failingUploads(inner: Transport, how: 'mid-upload' | 'before-rename'): Transport {
  return {
    async connect() {
      const session = await inner.connect();
      const uploadAtomic: RemoteSession['uploadAtomic'] = async (source, dir, name, expectedSize) => {
        if (how === 'mid-upload') {
          // the connection drops after part of the file went through: a short .part stays behind
          const { createReadStream } = await import('node:fs');
          const half = createReadStream(source as string, { end: Math.floor(expectedSize / 2) });
          await session.uploadAtomic(half, dir, name, expectedSize).catch(() => undefined);
          throw new Error('injected: connection lost mid-upload');
        }
        // the whole file reached <name>.part, then the process stopped before the rename
        await session.uploadAtomic(source, dir, name + '.part', expectedSize);
        throw new Error('injected: stopped before rename');
      };
      return { ...session, uploadAtomic, uploadPart: noUploadDuringClaim };
    },
  };
}

/**
 * For the enclosing suite: a real OpenSSH sshd and a gpg-made bureau key pair, handed to `use`
 * once started (the suite goes pending without sshd, fails under CI); both stopped after the suite.
 */
export function useSshdAndBureauKeys(use: (started: { sshd: SshdServer; keys: BureauKeys }) => void | Promise<void>): void {
  let sshd: SshdServer | undefined;
  let keys: BureauKeys | undefined;
  before(async function () {
    requireSshd(this);
    sshd = await startSshd();
    keys = makeBureauKeys();
    await use({ sshd, keys });
  });
  after(async () => {
    await sshd?.stop();
    keys?.gpg.cleanup();
  });
}

/**
 * For the enclosing suite: the test sshd with a second bureau's folders (`embFolders`) and a gpg key
 * pair per bureau (twoBureauServer), handed to `use` once started (the suite goes pending without
 * sshd, fails under CI); all stopped after the suite.
 */
export function useTwoBureauServer(embFolders: readonly string[], use: (started: Awaited<ReturnType<typeof twoBureauServer>>) => void): void {
  let server: Awaited<ReturnType<typeof twoBureauServer>> | undefined;
  before(async function () {
    // two gpg key pairs: on a loaded machine more than the default minute
    this.timeout(120_000);
    requireSshd(this);
    server = await twoBureauServer(embFolders);
    use(server);
  });
  after(() => server?.stop());
}

/** What a send-job test works with: its database, the suite's sshd and bureau keys, and its own fresh config. */
export interface SendSuite {
  db: Knex;
  sshd: SshdServer;
  keys: BureauKeys;
  config: Config;
}

/**
 * For a send-job suite: one sshd and bureau key pair for the suite; before each test, empty send
 * tables and remote inbound folder and a fresh config (also handed to `use`, if given); its work
 * folder removed after. Returns the current test's suite: call it inside the test.
 */
export function useSendSuite(db: () => Knex, use?: (suite: SendSuite) => void): () => SendSuite {
  let started: { sshd: SshdServer; keys: BureauKeys } | undefined;
  let current: SendSuite | undefined;
  useSshdAndBureauKeys((s) => {
    started = s;
  });
  beforeEach(async () => {
    const { sshd, keys } = started!;
    await clearSendTables(db());
    for (const name of readdirSync(join(sshd.root, 'inbound'))) rmSync(join(sshd.root, 'inbound', name), { recursive: true, force: true });
    current = { db: db(), sshd, keys, config: withSftp(sendConfig(keys), sshd) };
    use?.(current);
  });
  afterEach(() => {
    if (current) removeDir(current.config.workDir);
  });
  return () => {
    if (!current) throw new Error('the send suite is set up before each test: ask for it inside one');
    return current;
  };
}
