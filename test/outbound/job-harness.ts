import { strict as assert } from 'node:assert';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { makeSendJob, type SendFaultPoint, type SendJobDeps } from '../../src/outbound/send-job.js';
import type { PanCipher } from '../../src/security/pan.js';
import type { RemoteSession, Transport } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';
import { clearSendTables } from './fixtures.js';
import { noUploadDuringClaim } from './mid-upload.js';
import { contractIdsOf, contractsByStatus, decryptedRecords, filesIn, makeBureauKeys, removeDir, sendConfig, twoBureauServer, type BureauKeys } from './harness.js';

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
