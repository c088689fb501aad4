import { existsSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseDotEnv } from 'dotenv';
import type { z } from 'zod';
import { makeCalendar } from '../calendar/index.js';
import { ConfigError, messageOf } from '../errors.js';
import { refuseOpenSecretFile } from './secrets.js';
import { resolveBureauLayouts } from './bureau-layouts.js';
import { PROJECT_ROOT } from './root.js';
import { parseYamlText, readTextFile } from './text-file.js';
import { configSchema, type Config } from './schema.js';

export { PROJECT_ROOT };
export const DEFAULT_CONFIG_FILE = join(PROJECT_ROOT, 'config', 'default.yaml');

/** A loaded configuration, with the file it came from; every path in it is absolute. */
export interface LoadedConfig extends Config {
  configFile: string;
}

/** Path keys (dot paths) of one bureau, resolved against the config file's folder. */
const BUREAU_PATH_KEYS = [
  'pgp.bureauPublicKeyFile', 'pgp.archivePublicKeyFile', 'pgp.sign.privateKeyFile', 'sftp.privateKeyFile', 'reports.rsaPrivateKeyFile',
  'reports.pgpPrivateKeyFile', 'reports.signingPublicKeyFile',
];
/** Path keys (dot paths) resolved against the config file's folder; workDir-relative ones after. */
const PATH_KEYS = ['workDir', 'perso.layoutsDir', ...BUREAU_PATH_KEYS];

/**
 * Which file to read: the explicit one, else BX_CONFIG (empty is unset), else config/default.yaml of
 * the project. An explicit empty name (`--config "$CFG"` with CFG unset) used to mean the default
 * file: `contracts import` then filled the installation's own SQLite file, never sent.
 */
export function configPath(explicit?: string): string {
  if (explicit === '') throw new ConfigError('--config: the file name is empty (an unset shell variable?): give the config file');
  return resolve(explicit || process.env.BX_CONFIG || DEFAULT_CONFIG_FILE);
}

/** Load, validate and resolve a config file. A wrong value throws one ConfigError naming the key. */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = configPath(file);
  if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
  loadDotEnv(join(dirname(path), '.env'), env);
  const raw = parseYamlText(`config file ${path}`, readTextFile(path, `config file ${path}`, refuseWritableByOthers));
  refuseInterpolation(path, raw);
  applyEnvOverrides(raw, env);
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(`config file ${path}: ${describeIssue(parsed.error)}`);
  const config = parsed.data as LoadedConfig;
  config.configFile = path;
  resolvePaths(config, dirname(path));
  checkCalendar(config);
  const listed = Array.isArray((raw as { bureaus?: unknown } | null)?.bureaus);
  checkKeyPairs(config, listed);
  checkPanKeyVariables(config, listed);
  try {
    resolveBureauLayouts(config, dirname(path), listed);
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${messageOf(err)}`);
  }
  return config;
}

/**
 * The config holds the trust anchors (the bureau's host key and OpenPGP key pins, its host): a file
 * every user of the machine may write lets any of them send the cards to a server and key of their
 * own. Refused, as OpenSSH refuses such a config; the group may write it.
 */
function refuseWritableByOthers(stats: Stats, what: string): void {
  if (stats.isFile() && stats.mode & 0o002) {
    throw new ConfigError(`${what} is writable by every user of the machine (mode ${(stats.mode & 0o777).toString(8)}): chmod o-w it`);
  }
}

/**
 * Nothing in the file is expanded: `${SFTP_USER}` (a template not run through envsubst) was taken as
 * those very characters, and failed only at the first connection. No value of ours holds `${`.
 */
function refuseInterpolation(path: string, raw: unknown, at: Array<string | number> = []): void {
  if (typeof raw === 'string' && raw.includes('${')) {
    // only the placeholder is quoted: the rest of the value may hold a password (a database URL)
    const placeholder = /\$\{[^}]{0,40}\}?/.exec(raw)![0];
    throw new ConfigError(`config file ${path}: ${keyOf(at) || '(top level)'}: ${placeholder}: the config is not expanded (no \${…} from the environment); write the value itself, or run the file through envsubst first`);
  }
  if (Array.isArray(raw)) raw.forEach((item, i) => refuseInterpolation(path, item, [...at, i]));
  else if (raw && typeof raw === 'object') for (const [key, value] of Object.entries(raw)) refuseInterpolation(path, value, [...at, key]);
}

/**
 * Keys that need another beside them, checked at load rather than when a send first reads them
 * (for the daemon: at the cut-off). An archive fingerprint without its key file encrypted nothing
 * to the archive key, without a word.
 */
function checkKeyPairs(config: LoadedConfig, listed: boolean): void {
  config.bureaus.forEach(({ pgp }, i) => {
    const fail = (key: string, message: string): never => {
      throw new ConfigError(`config file ${config.configFile}: ${listed ? `bureaus[${i}].` : ''}${key}: ${message}`);
    };
    if (pgp.sign.enabled && !pgp.sign.privateKeyFile) fail('pgp.sign.privateKeyFile', 'required when pgp.sign.enabled is true');
    if (pgp.archivePublicKeyFile && !pgp.archiveFingerprint) fail('pgp.archiveFingerprint', 'required when pgp.archivePublicKeyFile is set (the pin of that key)');
    if (pgp.archiveFingerprint && !pgp.archivePublicKeyFile) fail('pgp.archivePublicKeyFile', 'required when pgp.archiveFingerprint is set: without it no file is encrypted to the archive key');
  });
}

/** The `…Env` keys of a bureau naming a secret that leaves the process (a password or passphrase). */
const BUREAU_SECRET_VARIABLES = ['sftp.passwordEnv', 'sftp.privateKeyPassphraseEnv', 'pgp.sign.passphraseEnv', 'reports.rsaPassphraseEnv', 'reports.pgpPassphraseEnv'];

/**
 * The PAN data key's variables are that key's alone: named as the database or SFTP password, the
 * key was sent to that server at every connection; as a passphrase, handed to a key parser.
 */
function checkPanKeyVariables(config: LoadedConfig, listed: boolean): void {
  const fail = (key: string, message: string): never => {
    throw new ConfigError(`config file ${config.configFile}: ${key}: ${message}`);
  };
  const pan = [config.pan.keyEnv, config.pan.previousKeyEnv];
  if (pan[0] === pan[1]) fail('pan.previousKeyEnv', `${pan[1]} is also pan.keyEnv: the previous key needs a variable of its own`);
  const isPan = (name: unknown) => typeof name === 'string' && pan.includes(name);
  if (isPan(config.database.passwordEnv)) fail('database.passwordEnv', `${config.database.passwordEnv} holds the PAN data key (pan.keyEnv or pan.previousKeyEnv): it would be sent as the database password`);
  config.bureaus.forEach((bureau, i) => {
    for (const key of BUREAU_SECRET_VARIABLES) {
      const name = getPath(bureau, key);
      if (isPan(name)) fail(`${listed ? `bureaus[${i}].` : ''}${key}`, `${String(name)} holds the PAN data key (pan.keyEnv or pan.previousKeyEnv): give this secret a variable of its own`);
    }
  });
}

/** BX_DATABASE_URL and BX_DATABASE_CLIENT override the file (12-factor deployments, CI). */
function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): void {
  if (!raw || typeof raw !== 'object') return;
  const doc = raw as Record<string, any>;
  const client = env.BX_DATABASE_CLIENT;
  // a client the schema refused was named database.client, a key the file may not even hold
  if (client && !['sqlite', 'pg', 'mysql'].includes(client)) {
    throw new ConfigError(`environment variable BX_DATABASE_CLIENT: ${JSON.stringify(client)} is not sqlite, pg or mysql`);
  }
  if (env.BX_DATABASE_URL) {
    doc.database = { ...(doc.database ?? {}), url: env.BX_DATABASE_URL };
    doc.database.client = client || clientOfUrl(env.BX_DATABASE_URL);
  } else if (client) {
    // it was ignored: the file's client (SQLite by default) was used while the deployment meant another
    throw new ConfigError('environment variable BX_DATABASE_CLIENT is read only with BX_DATABASE_URL: set both, or database.client and database.url in the config file');
  }
}

function clientOfUrl(url: string): string {
  if (/^postgres(ql)?:/.test(url)) return 'pg';
  if (/^(mysql|mariadb):/.test(url)) return 'mysql';
  // a mistyped scheme (postgress:) used to mean SQLite: a fresh local file instead of the database;
  // only the scheme is quoted, the URL may hold a password
  const scheme = /^[^:/@]*:/.exec(url)?.[0] ?? '(none)';
  throw new ConfigError(`environment variable BX_DATABASE_URL: scheme ${scheme} is not postgres:, postgresql:, mysql: or mariadb: (set BX_DATABASE_CLIENT to choose the client)`);
}

/** The holiday rules (country, region) and extra dates, checked at load like every other value. */
function checkCalendar(config: LoadedConfig): void {
  try {
    makeCalendar(config.calendar);
  } catch (err) {
    throw new ConfigError(`config file ${config.configFile}: ${messageOf(err)}`);
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const key = keyOf(issue.path) || '(top level)';
  return `${key}: ${issue.message}${error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : ''}`;
}

/** A key as the docs write it: bureaus[1].sftp.hostKeySha256. */
export function keyOf(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

function resolvePaths(config: LoadedConfig, base: string): void {
  // the top-level sections are the first bureau's own objects: a path already absolute stays as it is
  const resolveIn = (obj: unknown, keys: readonly string[], prefix: string) => {
    for (const key of keys) {
      const value = getPath(obj, key);
      // no shell expands it here: ~/.ssh/id became <config folder>/~/.ssh/id, missing at the first connection
      if (typeof value === 'string' && /^~/.test(value)) {
        throw new ConfigError(`config file ${config.configFile}: ${prefix}${key}: ${JSON.stringify(value)}: ~ is not expanded; give the path absolute, or relative to the config file's folder`);
      }
      if (typeof value === 'string' && !isAbsolute(value)) setPath(obj, key, resolve(base, value));
    }
  };
  // the bureaus first: the top-level sections are bureaus[0]'s objects, named as written in a list
  config.bureaus.forEach((bureau, i) => resolveIn(bureau, BUREAU_PATH_KEYS, config.bureaus.length > 1 ? `bureaus[${i}].` : ''));
  resolveIn(config, PATH_KEYS, '');
  if (/^~/.test(config.database.filename)) {
    throw new ConfigError(`config file ${config.configFile}: database.filename: ~ is not expanded; give the path absolute, or relative to workDir`);
  }
  if (config.database.client === 'sqlite' && config.database.filename !== ':memory:' && !isAbsolute(config.database.filename)) {
    config.database.filename = resolve(config.workDir, config.database.filename);
  }
}

/**
 * Reads the .env file with dotenv's parser (quotes, `export KEY=…`, `# comments` after a value,
 * multi-line quoted values) into env, without overriding what the environment already has. It
 * usually holds the PAN data key: a file every user of the machine may read is refused (the group
 * may read it, as the documented root:bureau-exchange 0640 needs).
 */
function loadDotEnv(file: string, env: NodeJS.ProcessEnv): void {
  if (!existsSync(file)) return;
  const text = readTextFile(file, `the secrets file ${file}`, (stats) => {
    refuseOpenSecretFile(file, stats.mode, 'the secrets file', { openTo: 0o007, hint: 'chmod 640 or 600 it' });
  });
  for (const [key, value] of Object.entries(parseDotEnv(text))) {
    if (env[key] === undefined) env[key] = value;
  }
}

export function getPath(obj: unknown, key: string): unknown {
  return key.split('.').reduce<any>((o, k) => (o == null ? undefined : o[k]), obj);
}

function setPath(obj: any, key: string, value: unknown): void {
  const keys = key.split('.');
  const last = keys.pop()!;
  keys.reduce((o, k) => o[k], obj)[last] = value;
}

/**
 * The config keys a kind of work needs that the schema leaves optional (a command that does not do
 * that work runs without them): listed once here, checked before the work starts.
 */
export const REQUIRED_KEYS = {
  /** encrypting personalization files to the bureau */
  encrypt: ['pgp.bureauPublicKeyFile', 'pgp.bureauFingerprint'],
  /** reaching the bureau's SFTP server */
  sftp: ['sftp.host', 'sftp.username'],
  /** the daemon runs unattended: the server's host key is pinned in the config, never taken on trust */
  unattended: ['sftp.hostKeySha256'],
} as const satisfies Record<string, readonly string[]>;

/**
 * Fails with a ConfigError naming the first missing key a job needs (e.g. sftp.host for send). A
 * bureau's view of a loaded config (config/bureau-view.ts) names the file and the key as written in
 * it: `bureaus[1].sftp.host`, not the first bureau's `sftp.host`.
 */
export function requireKeys(config: Config, keys: readonly string[], purpose: string): void {
  for (const key of keys) {
    const value = getPath(config, key);
    if (value === undefined || value === '') throw new ConfigError(`${whereIs(config, key)}config key ${key} is required for ${purpose}`);
  }
}

/** `config file F: bureaus[i].key: ` for a bureau of a list of several, `config file F: ` otherwise (when known). */
function whereIs(config: Partial<LoadedConfig>, key: string): string {
  const file = config.configFile ? `config file ${config.configFile}: ` : '';
  const index = config.bureaus && config.bureaus.length > 1 ? config.bureaus.findIndex((b) => b.code === config.bureau?.code) : -1;
  return index < 0 ? file : `${file}bureaus[${index}].${key}: `;
}
