import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { Config } from '../../src/config/schema.js';
import { canonicalId } from '../../src/domain/contract.js';
import { silentLogger } from '../../src/log.js';
import { makePersoFileMaker, type PersoFileMaker } from '../../src/outbound/perso-file.js';
import { createGpgHome, type GpgHome } from '../helpers/gpg.js';
import { testConfig } from '../helpers/config.js';
import { startSshd, userIds, type SshdServer } from '../helpers/sshd.js';

/** A gpg home holding the bureau's key pair (made by gpg, like the bureau's) and its exported public key. */
export interface BureauKeys {
  gpg: GpgHome;
  publicKeyFile: string;
  fingerprint: string;
}

export function makeBureauKeys(): BureauKeys {
  const gpg = createGpgHome();
  const fingerprint = gpg.generateKey('Bureau <bureau@example.test>', { algo: 'rsa2048' });
  return { gpg, publicKeyFile: gpg.exportPublicKey(fingerprint), fingerprint };
}

/** A config for the send job: temp workDir, the bureau key pinned, the given sections on top. */
export function sendConfig(keys: BureauKeys, overrides: Record<string, unknown> = {}): Config {
  const workDir = mkdtempSync(join(tmpdir(), 'bx-send-'));
  return testConfig({
    workDir,
    pgp: { bureauPublicKeyFile: keys.publicKeyFile, bureauFingerprint: keys.fingerprint },
    // every day a business day, so tests do not depend on the weekday they run on
    calendar: { workingDays: [1, 2, 3, 4, 5, 6, 7] },
    ...overrides,
  });
}

export function fileMaker(config: Config): Promise<PersoFileMaker> {
  return makePersoFileMaker(config, { log: silentLogger, now: new Date() });
}

/** Decrypts a file with gpg (the independent reader) and returns its record lines. */
export function decryptedRecords(keys: BureauKeys, file: string): string[] {
  return keys.gpg.gpgDecrypt(file).toString('latin1').split('\n').filter(Boolean);
}

/** Canonical contract ids of the detail records (positions 9–23) of a clear file's lines. */
export function contractIdsOf(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith('D')).map((l) => canonicalId(l.slice(8, 23)));
}

export function filesIn(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Contract numbers by production status. */
export async function contractsByStatus(db: Knex): Promise<Record<string, string[]>> {
  const rows = await db('card_contracts').select('contract_number', 'production_status').orderBy('id');
  const out: Record<string, string[]> = {};
  for (const r of rows) (out[r.production_status] ??= []).push(r.contract_number);
  return out;
}

/** A test sshd with a second bureau's folders beside the first's, and a gpg key pair per bureau (BUREAU01 and EMB01). */
export async function twoBureauServer(embFolders: readonly string[] = ['emb-in', 'emb-out']): Promise<{ sshd: SshdServer; keys: { b1: BureauKeys; emb: BureauKeys }; stop(): Promise<void> }> {
  const sshd = await startSshd();
  const keys = { b1: makeBureauKeys(), emb: makeBureauKeys() };
  const { uid, gid } = userIds('nobody');
  for (const dir of embFolders) {
    mkdirSync(join(sshd.root, dir), { mode: 0o755 });
    chownSync(join(sshd.root, dir), uid, gid);
  }
  return {
    sshd, keys,
    async stop() {
      await sshd.stop();
      keys.b1.gpg.cleanup();
      keys.emb.gpg.cleanup();
    },
  };
}
