import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireOrSkip } from './ci.js';

/**
 * GnuPG as the independent party in the tests: a temporary GNUPGHOME holding key pairs made by gpg
 * (like the bureau's), used to decrypt what our code encrypts and to encrypt what our code decrypts.
 */
export interface GpgHome {
  home: string;
  /** generates a key pair without passphrase; returns its fingerprint (upper-case hex) */
  generateKey(userId: string, options?: { algo?: string; expire?: string }): string;
  /** writes the public key (armored unless binary) to a file in the home; returns the path */
  exportPublicKey(fingerprint: string, options?: { binary?: boolean }): string;
  /** writes the secret key (armored, no passphrase, mode 0600) to a file in the home; returns the path */
  exportSecretKey(fingerprint: string): string;
  /** imports a key file (e.g. our signing key's public half) */
  importKey(file: string): void;
  /** decrypts a file; throws with gpg's stderr when gpg fails */
  gpgDecrypt(file: string): Buffer;
  /** decrypts and reports the status lines (GOODSIG, VALIDSIG, DECRYPTION_OKAY…) */
  gpgDecryptWithStatus(file: string): { clear: Buffer; status: string; stderr: string; ok: boolean };
  /** encrypts to the key in `recipientKeyFile` (no compression unless asked), optionally signed by a key in this home */
  gpgEncrypt(clear: Buffer, recipientKeyFile: string, options?: { signWith?: string; armor?: boolean; compress?: boolean }): Buffer;
  cleanup(): void;
}

export function gpgAvailable(): boolean {
  return spawnSync('gpg', ['--version']).status === 0;
}

/** In a mocha hook or test: skips visibly without gpg, fails under CI. */
export function requireGpg(ctx: Mocha.Context): void {
  requireOrSkip(ctx, gpgAvailable() ? null : 'gpg is not installed (apt-get install gnupg)');
}

export function createGpgHome(): GpgHome {
  const home = mkdtempSync(join(tmpdir(), 'bx-gpg-'));
  const base = ['--homedir', home, '--batch', '--yes', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', ''];
  const gpg = (args: string[], input?: Buffer) => execFileSync('gpg', [...base, ...args], { input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  let exported = 0;

  return {
    home,
    generateKey(userId, { algo = 'future-default', expire = '1y' } = {}) {
      const builtIn = algo === 'default' || algo === 'future-default';
      gpg(['--quick-gen-key', userId, algo, builtIn ? 'default' : 'cert,sign', expire]);
      const listing = gpg(['--with-colons', '--list-keys', userId]).toString();
      const fpr = listing.split('\n').find((l) => l.startsWith('fpr:'));
      if (!fpr) throw new Error(`gpg made no key for ${userId}`);
      const fingerprint = fpr.split(':')[9]!;
      // an explicit algorithm makes a primary key only: add its encryption subkey
      if (!builtIn) gpg(['--quick-add-key', fingerprint, algo === 'ed25519' ? 'cv25519' : algo, 'encr', expire]);
      return fingerprint;
    },
    exportPublicKey(fingerprint, { binary = false } = {}) {
      const file = join(home, `export-${++exported}.pub${binary ? '.gpg' : '.asc'}`);
      gpg(['--output', file, ...(binary ? [] : ['--armor']), '--export', fingerprint]);
      return file;
    },
    exportSecretKey(fingerprint) {
      const file = join(home, `export-${++exported}.sec.asc`);
      gpg(['--output', file, '--armor', '--export-secret-keys', fingerprint]);
      chmodSync(file, 0o600);
      return file;
    },
    importKey(file) {
      gpg(['--import', file]);
    },
    gpgDecrypt(file) {
      const result = this.gpgDecryptWithStatus(file);
      if (!result.ok) throw new Error(`gpg --decrypt failed: ${result.stderr}`);
      return result.clear;
    },
    gpgDecryptWithStatus(file) {
      const run = spawnSync('gpg', [...base, '--status-fd', '2', '--decrypt', file], { maxBuffer: 1 << 30 });
      const stderr = run.stderr.toString();
      const status = stderr.split('\n').filter((l) => l.startsWith('[GNUPG:]')).join('\n');
      return { clear: run.stdout, status, stderr, ok: run.status === 0 };
    },
    gpgEncrypt(clear, recipientKeyFile, { signWith, armor = false, compress = false } = {}) {
      const args = ['--compress-level', compress ? '9' : '0', '--trust-model', 'always', '--recipient-file', recipientKeyFile];
      if (signWith) args.push('--local-user', signWith, '--sign');
      if (armor) args.push('--armor');
      return gpg([...args, '--encrypt', '--output', '-'], clear);
    },
    cleanup() {
      spawnSync('gpgconf', ['--homedir', home, '--kill', 'all']);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
