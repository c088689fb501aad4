import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, lstatSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { BUREAU_STATE_FILE } from './bureau-state.js';
import { sandboxConfigYaml, type SandboxBureauYaml } from './config-yaml.js';
import { generateBureauKeys, generateSandboxKeys, type BureauKeyPins, type SandboxKeys } from './keys.js';
import { BUREAU_SETTINGS_FILE, DEFAULT_BUREAU_SETTINGS_YAML } from './settings.js';

export interface SandboxPaths {
  dir: string;
  configFile: string;
  envFile: string;
  keysDir: string;
  sftpRoot: string;
  inbound: string;
  outbound: string;
  settingsFile: string;
}

/** Where one sandbox bureau keeps its SFTP account's folder, its own keys and what it remembers. */
export interface SandboxBureauPaths {
  code: string;
  /** the local folder its SFTP server serves as "/" */
  sftpRoot: string;
  /** its own keys (OpenPGP pair, report-signing pair, host key); ours stay in the sandbox's keys/ */
  keysDir: string;
  stateFile: string;
}

/** One bureau made by `sandbox init`. */
export interface InitBureau extends SandboxBureauPaths {
  port: number;
  pins: BureauKeyPins;
  /** its SFTP account's inbound and outbound folders, local paths */
  inbound: string;
  outbound: string;
}

export interface InitResult extends SandboxPaths {
  /** the first bureau's SFTP port */
  port: number;
  keys: SandboxKeys;
  /** every bureau, the first first */
  bureaus: InitBureau[];
}

/** The second sandbox bureau: another format (emb-v1), its own server, keys and folders; premium cards go to it. */
const SECOND_BUREAU = {
  code: 'EMB01', name: 'Sandbox embossing partner', layout: 'emb-v1', productCodes: ['GOLD01', 'PLATIN01'],
  dirs: { inbound: '/in', outbound: '/out' },
};

/**
 * What `sandbox init` makes at the top of its folder. None may be there already: a `.env` or key
 * there is someone's (a deployment's PAN data key beside its own config), and an old sandbox's
 * database, state or folders would be mixed with new keys (PANs it cannot decrypt, files it took
 * for answered).
 */
const SANDBOX_ENTRIES = ['config.yaml', '.env', BUREAU_SETTINGS_FILE, BUREAU_STATE_FILE, 'keys', 'sftp', 'bureaus', 'var'];

/** Refuses a folder holding any of SANDBOX_ENTRIES (a dangling symbolic link too: a write would go through it). */
function refuseExistingEntries(dir: string): void {
  const present = SANDBOX_ENTRIES.filter((name) => lstatSync(join(dir, name), { throwIfNoEntry: false }));
  if (present.length) {
    throw new UsageError(`${present.join(', ')} already exists in ${dir}: sandbox init replaces nothing (a .env or key there would be lost); choose an empty or new folder`);
  }
}

/**
 * Makes the sandbox folder, or says why it cannot. A recursive mkdir under a read-only or
 * unwritable folder reports ENOENT ("no such file or directory, mkdir …/keys"): the folder that is in
 * the way is named instead.
 */
export function makeSandboxFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new UsageError(`cannot make the sandbox in ${dir}: ${whyNotWritable(dir, err as NodeJS.ErrnoException)}`);
  }
}

/** The deepest existing folder on the way to `dir`, and what is wrong with it. */
function whyNotWritable(dir: string, err: NodeJS.ErrnoException): string {
  let at = dir;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  if (!statSync(at).isDirectory()) return `${at} is a file, not a folder`;
  try {
    accessSync(at, constants.W_OK);
  } catch (denied) {
    const code = (denied as NodeJS.ErrnoException).code;
    return `${at} is not writable (${code === 'EROFS' ? 'read-only file system' : code === 'EACCES' ? 'permission denied' : code})`;
  }
  return err.code ?? err.message;
}

/** Where everything of the sandbox in `dir` lives. */
export function sandboxPaths(dir: string): SandboxPaths {
  const abs = resolve(dir);
  const sftpRoot = join(abs, 'sftp');
  return {
    dir: abs, configFile: join(abs, 'config.yaml'), envFile: join(abs, '.env'), keysDir: join(abs, 'keys'), sftpRoot,
    inbound: join(sftpRoot, 'inbound'), outbound: join(sftpRoot, 'outbound'), settingsFile: join(abs, BUREAU_SETTINGS_FILE),
  };
}

/**
 * Where the sandbox bureau number `index` (its place in the config's list) lives. The first keeps
 * the folders of a one-bureau sandbox (sftp/, keys/, bureau-state.json); another has its own
 * under bureaus/<CODE>/, its keys in keys/<CODE>/: one account's files are never in another's root.
 */
export function sandboxBureauPaths(dir: string, code: string, index: number): SandboxBureauPaths {
  const paths = sandboxPaths(dir);
  if (index === 0) return { code, sftpRoot: paths.sftpRoot, keysDir: paths.keysDir, stateFile: join(paths.dir, BUREAU_STATE_FILE) };
  const own = join(paths.dir, 'bureaus', code);
  return { code, sftpRoot: join(own, 'sftp'), keysDir: join(paths.keysDir, code), stateFile: join(own, BUREAU_STATE_FILE) };
}

/**
 * Creates a self-contained sandbox in `dir`: fresh test keys, a PAN data key in .env, the SFTP
 * folders, the simulator's settings and a complete config.yaml pointing at all of it. With
 * `bureaus: 2`, a second bureau (EMB01, layout emb-v1) with its own SFTP server, keys and folders,
 * and a config in the `bureaus:` + `routing:` form. Refuses a folder that already holds any file or
 * folder of these names (SANDBOX_ENTRIES), and never writes a file over another ('wx').
 */
export async function initSandbox(
  dir: string, options: { port?: number; issuer?: string; bureau?: string; bureaus?: number } = {},
): Promise<InitResult> {
  const count = options.bureaus ?? 1;
  if (count !== 1 && count !== 2) throw new UsageError('--bureaus must be 1 or 2');
  const paths = sandboxPaths(dir);
  makeSandboxFolder(paths.dir);
  refuseExistingEntries(paths.dir);
  const issuer = options.issuer ?? 'BXISSUER';
  const keys = await generateSandboxKeys(paths.keysDir);
  const first: SandboxBureauYaml = {
    code: options.bureau ?? 'BUREAU01', name: 'Sandbox bureau', layout: 'perso-v1', port: options.port ?? (await freeLoopbackPort()),
    keys: 'keys', pins: keys, dirs: { inbound: '/inbound', outbound: '/outbound' }, productCodes: [],
  };
  const bureaus = [first];
  if (count === 2) {
    const code = SECOND_BUREAU.code;
    const pins = await generateBureauKeys(sandboxBureauPaths(dir, code, 1).keysDir, SECOND_BUREAU.name);
    bureaus.push({ ...SECOND_BUREAU, port: await freeLoopbackPort([first.port]), keys: `keys/${code}`, pins });
  }
  const made = bureaus.map((b, i): InitBureau => {
    const where = sandboxBureauPaths(dir, b.code, i);
    const local = { inbound: join(where.sftpRoot, b.dirs.inbound), outbound: join(where.sftpRoot, b.dirs.outbound) };
    mkdirSync(local.inbound, { recursive: true });
    mkdirSync(local.outbound, { recursive: true });
    return { ...where, ...local, port: b.port, pins: b.pins };
  });
  writeFileSync(paths.envFile, `# TEST ONLY: the sandbox's PAN data key (AES-256, base64)\nBX_PAN_KEY=${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  writeFileSync(paths.settingsFile, DEFAULT_BUREAU_SETTINGS_YAML, { flag: 'wx' });
  writeFileSync(paths.configFile, sandboxConfigYaml(issuer, bureaus), { flag: 'wx' });
  return { ...paths, port: first.port, keys, bureaus: made };
}

/** A loopback port free right now, not one of `taken` (the sandbox server binds it later: a fixed port keeps config.yaml stable). */
export async function freeLoopbackPort(taken: number[] = []): Promise<number> {
  for (;;) {
    const port = await probePort();
    if (!taken.includes(port)) return port;
  }
}

function probePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolvePort(port));
    });
  });
}
