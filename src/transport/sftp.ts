import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import type { Algorithms as SshAlgorithms, SFTPWrapper } from 'ssh2';
import SftpClient from 'ssh2-sftp-client';
import type { Config } from '../config/schema.js';
import { refuseOpenSecretFile, secretFromEnv } from '../config/secrets.js';
import { ConfigError, PermanentError, TransientError, messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { RemoteSession, Transport } from './remote.js';
import { isTransientNetworkError, withRetry } from './retry.js';
import { serverText } from './sftp-errors.js';
import { makeSftpSession } from './sftp-session.js';

export type SftpConfig = Config['sftp'];

/**
 * The bureau's SFTP server behind the Transport interface. Every connection pins the host key,
 * uses TCP noDelay (Nagle's algorithm would hold back the small requests SFTP waits on), keepalive and a handshake timeout, and is
 * retried with backoff while the failure is a network one.
 */
export function makeSftpTransport(
  config: SftpConfig,
  deps: { log: Logger; env?: NodeJS.ProcessEnv; signal?: AbortSignal; closeTimeoutMs?: number; stallTimeoutMs?: number },
): Transport {
  const log = deps.log.child({ component: 'sftp' });
  // the key type whose key matched the pin: later connections ask for it at once
  const pinned: { keyType?: string } = {};
  return {
    async connect(): Promise<RemoteSession> {
      const settings = connectionSettings(config, deps.env);
      return withRetry(() => openPinnedSession(config, settings, log, pinned, deps), config.retry, {
        isTransient: isTransientNetworkError,
        log,
        signal: deps.signal,
        what: `SFTP connection to ${endpoint(config)}`,
      });
    },
  };
}

interface ConnectionSettings {
  host: string;
  username: string;
  pinnedHostKey: string;
  auth: { privateKey: Buffer; passphrase?: string } | { password: string };
}

/** Checks the config before any network traffic: a missing pin or credential is a ConfigError. */
function connectionSettings(config: SftpConfig, env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
  if (!config.host) throw new ConfigError('config key sftp.host is required to connect to the bureau');
  if (!config.username) throw new ConfigError('config key sftp.username is required to connect to the bureau');
  if (!config.hostKeySha256) {
    throw new ConfigError(`config key sftp.hostKeySha256 is required: the host key of ${endpoint(config)} must be pinned (ssh-keyscan -p ${config.port} ${config.host} | ssh-keygen -lf -)`);
  }
  return { host: config.host, username: config.username, pinnedHostKey: config.hostKeySha256.replace(/=+$/, ''), auth: authOf(config, env) };
}

function authOf(config: SftpConfig, env: NodeJS.ProcessEnv): ConnectionSettings['auth'] {
  if (config.privateKeyFile) {
    let privateKey: Buffer;
    try {
      refuseOpenSecretFile(config.privateKeyFile, statSync(config.privateKeyFile).mode, 'sftp.privateKeyFile');
      privateKey = readFileSync(config.privateKeyFile);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`cannot read sftp.privateKeyFile ${config.privateKeyFile}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
    }
    return { privateKey, passphrase: secretFromEnv(config.privateKeyPassphraseEnv, env) };
  }
  const password = secretFromEnv(config.passwordEnv, env);
  if (!password) throw new ConfigError(`SFTP needs sftp.privateKeyFile or a password in $${config.passwordEnv}`);
  return { password };
}

/**
 * The host key algorithms of each key type (a server holds at most one key of a type; RSA signs
 * under three names). ssh2 asks for its own preference first (Ed25519), so a server holding the
 * pinned RSA or ECDSA key besides an Ed25519 one would present the Ed25519 key and be refused.
 */
const HOST_KEY_ALGORITHMS: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/** A host key that is not the pinned one: another key of the server may still be. */
class HostKeyMismatch extends Error {
  constructor(readonly offered: { fingerprint: string; keyType: string }) {
    super(`host key ${offered.fingerprint} (${offered.keyType}) is not the pinned one`);
  }
}

/**
 * Opens a session with the server's key of the pinned fingerprint, whatever its type: each key the
 * server presents that is not the pinned one is asked for no more, until one matches (the server
 * proves it holds that key in the handshake) or the server has no other type of key to present.
 */
async function openPinnedSession(
  config: SftpConfig, settings: ConnectionSettings, log: Logger, pinned: { keyType?: string }, timeouts: SessionTimeouts,
): Promise<RemoteSession> {
  const offered: string[] = [];
  let types = pinned.keyType ? [pinned.keyType, ...Object.keys(HOST_KEY_ALGORITHMS).filter((t) => t !== pinned.keyType)] : Object.keys(HOST_KEY_ALGORITHMS);
  for (;;) {
    try {
      const opened = await openSession(config, settings, log, timeouts, types);
      pinned.keyType = opened.keyType;
      return opened.session;
    } catch (err) {
      if (err instanceof HostKeyMismatch) {
        offered.push(err.offered.fingerprint);
        const others = types.filter((t) => t !== err.offered.keyType);
        // (a key of a type we did not ask for, or no type left: nothing else to ask for)
        if (others.length && others.length < types.length) {
          types = others;
          continue;
        }
      } else if (!offered.length || !/no matching host key format/i.test(messageOf(err))) throw err;
      throw new PermanentError(`${offered.length > 1 ? `host keys ${offered.join(', ')}` : `host key ${offered[0]}`} of ${endpoint(config)} ` +
        `${offered.length > 1 ? 'do' : 'does'} not match the pinned ${settings.pinnedHostKey} (sftp.hostKeySha256): connection refused`);
    }
  }
}

/** (for tests: how long close() and a request unanswered may take) */
type SessionTimeouts = { closeTimeoutMs?: number; stallTimeoutMs?: number };

async function openSession(
  config: SftpConfig, settings: ConnectionSettings, log: Logger, timeouts: SessionTimeouts, keyTypes: string[],
): Promise<{ session: RemoteSession; keyType: string }> {
  // the library's default callbacks print to the console: route them to our (scrubbed) log
  const client = new SftpClient('bureau-exchange', {
    error: (err: unknown) => log.warn({ endpoint: endpoint(config), err: messageOf(err) }, 'SFTP connection error'),
    end: () => log.debug({ endpoint: endpoint(config) }, 'SFTP connection ended by the server'),
    close: () => log.debug({ endpoint: endpoint(config) }, 'SFTP connection closed'),
  });
  let offeredHostKey: string | undefined;
  let offeredKeyType = '';
  const sock = netConnect({ host: settings.host, port: config.port, noDelay: true });
  const subsystem = subsystemDeadline(client, sock, config.readyTimeoutMs);
  let sftp: SFTPWrapper;
  try {
    sftp = await client.connect({
      sock,
      host: settings.host,
      port: config.port,
      username: settings.username,
      ...settings.auth,
      readyTimeout: config.readyTimeoutMs,
      keepaliveInterval: config.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      algorithms: { serverHostKey: keyTypes.flatMap((t) => HOST_KEY_ALGORITHMS[t] ?? []) as SshAlgorithms['serverHostKey'] },
      hostVerifier: (key: Buffer) => {
        offeredHostKey = openSshFingerprint(key);
        offeredKeyType = keyTypeOf(key);
        return offeredHostKey === settings.pinnedHostKey;
      },
    });
  } catch (err) {
    sock.destroy(); // never leave a half-open connection behind a failed attempt
    await client.end().catch(() => undefined);
    if (offeredHostKey && offeredHostKey !== settings.pinnedHostKey) throw new HostKeyMismatch({ fingerprint: offeredHostKey, keyType: offeredKeyType });
    if (subsystem.expired()) {
      throw new TransientError(`SFTP connection to ${endpoint(config)}: the server did not start its SFTP subsystem within ${config.readyTimeoutMs} ms (sftp.readyTimeoutMs)`, { cause: err });
    }
    throw connectError(err, config, settings);
  } finally {
    subsystem.clear();
  }
  log.debug({ endpoint: endpoint(config), hostKey: offeredHostKey }, 'SFTP session open');
  const session = makeSftpSession(client, {
    endpoint: endpoint(config), log, sftp, traffic: () => sock.bytesRead + sock.bytesWritten, closeTimeoutMs: timeouts.closeTimeoutMs, stallTimeoutMs: timeouts.stallTimeoutMs,
  });
  return { session, keyType: offeredKeyType };
}

/**
 * ssh2's readyTimeout ends at login: the SFTP subsystem's start after it (the server's SFTP process
 * sending its version) had no limit, and a server whose SFTP process hung kept connect() waiting
 * forever. It gets readyTimeoutMs too; past it the socket is dropped, which fails the connect.
 */
function subsystemDeadline(client: SftpClient, sock: Socket, timeoutMs: number): { expired(): boolean; clear(): void } {
  let expired = false;
  let timer: NodeJS.Timeout | undefined;
  const onReady = () => {
    timer = setTimeout(() => {
      expired = true;
      sock.destroy();
    }, timeoutMs);
  };
  client.on('ready', onReady);
  return {
    expired: () => expired,
    clear() {
      clearTimeout(timer);
      client.removeListener('ready', onReady);
    },
  };
}

/** The type named at the start of an SSH public key blob (RFC 4253 6.6: string type, then the key). */
function keyTypeOf(blob: Buffer): string {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return length > 0 && length <= 64 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString('latin1') : '';
}

function connectError(err: unknown, config: SftpConfig, settings: ConnectionSettings): Error {
  const message = serverText(messageOf(err)); // ssh2 quotes the server's disconnect text
  if (isTransientNetworkError(err)) return err instanceof Error ? err : new Error(message);
  if (/private ?key|passphrase/i.test(message)) {
    return new ConfigError(`cannot use sftp.privateKeyFile ${config.privateKeyFile}: ${message} (passphrase in $${config.privateKeyPassphraseEnv})`);
  }
  if (/authentication/i.test(message)) {
    return new PermanentError(`SFTP authentication of ${settings.username} at ${endpoint(config)} failed: ${message}`, { cause: err });
  }
  return new PermanentError(`SFTP connection to ${endpoint(config)} failed: ${message}`, { cause: err });
}

/**
 * The fingerprint of the key the server presents, without logging in (the connection is refused
 * at the host key step). For onboarding: compare it with the bureau's out of band, then pin it.
 */
export async function fetchHostKeyFingerprint(config: SftpConfig): Promise<string> {
  if (!config.host) throw new ConfigError('config key sftp.host is required to connect to the bureau');
  const client = new SftpClient('bureau-exchange-keyscan', { error: () => undefined, end: () => undefined, close: () => undefined });
  const sock = netConnect({ host: config.host, port: config.port, noDelay: true });
  let offered: string | undefined;
  try {
    await client.connect({
      sock, host: config.host, port: config.port, username: config.username ?? 'keyscan', readyTimeout: config.readyTimeoutMs,
      hostVerifier: (key: Buffer) => {
        offered = openSshFingerprint(key);
        return false;
      },
    });
  } catch (err) {
    if (!offered) throw new TransientError(`cannot reach ${endpoint(config)}: ${messageOf(err)}`, { cause: err });
  } finally {
    sock.destroy();
    await client.end().catch(() => undefined);
  }
  if (!offered) throw new PermanentError(`${endpoint(config)} presented no host key`);
  return offered;
}

/** OpenSSH's form of a host key fingerprint: SHA256:<base64 of the key blob's digest, unpadded>. */
export function openSshFingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

function endpoint(config: SftpConfig): string {
  return `${config.host}:${config.port}`;
}
