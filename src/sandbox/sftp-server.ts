import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import ssh2, { type AuthContext, type Connection, type ParsedKey } from 'ssh2';
import { silentLogger, type Logger } from '../log.js';
import { openSshFingerprint } from '../transport/sftp.js';
import { ConfinedRoot } from './confined-root.js';
import { serveSftpSession } from './sftp-handlers.js';

export interface SftpServerOptions {
  /** the folder served as "/" */
  root: string;
  /** the host private key (OpenSSH format) */
  hostKey: string | Buffer;
  /** public keys allowed to log in (OpenSSH `ssh-ed25519 AAAA…` lines) */
  authorizedKeys: Array<string | Buffer>;
  /** the only user name accepted; any when omitted */
  username?: string;
  /** default 127.0.0.1 */
  host?: string;
  /** 0 (default) picks a free port */
  port?: number;
  log?: Logger;
}

export interface RunningSftpServer {
  host: string;
  port: number;
  /** the host key's fingerprint as OpenSSH prints it: SHA256:<base64> */
  hostKeySha256: string;
  /** stops listening and ends every open connection */
  close(): Promise<void>;
}

/** The fingerprint of a public or private SSH key as `ssh-keygen -lf` prints it. */
export function sshFingerprint(key: string | Buffer): string {
  return openSshFingerprint(parseSshKey(key).getPublicSSH());
}

function parseSshKey(key: string | Buffer): ParsedKey {
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) throw parsed;
  return Array.isArray(parsed) ? parsed[0] : parsed;
}

/**
 * An SFTP-only SSH server on loopback for the sandbox and the tests: public-key authentication
 * only, no shell, no exec, no forwarding; every path confined to `root`.
 */
export async function startSftpServer(options: SftpServerOptions): Promise<RunningSftpServer> {
  const log = options.log ?? silentLogger;
  const root = new ConfinedRoot(options.root);
  const allowed = options.authorizedKeys.map(parseSshKey);
  const connections = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [options.hostKey], ident: 'bureau-exchange-sandbox' }, (client) => {
    connections.add(client);
    // Nagle on the server's small STATUS replies stalls every pipelined write (bench/RESULTS.md).
    (client as Connection & { setNoDelay(on: boolean): unknown }).setNoDelay(true);
    client.on('close', () => connections.delete(client));
    client.on('error', (err) => log.debug({ err: err.message }, 'sftp client connection error'));
    client.on('authentication', (ctx) => authenticate(ctx, allowed, options.username, log));
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => serveSftpSession(acceptSftp(), root, log));
        session.on('exec', (_accept, reject) => reject());
        session.on('shell', (_accept, reject) => reject());
        session.on('pty', (_accept, reject) => reject?.());
      });
      client.on('tcpip', (_accept, reject) => reject());
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    hostKeySha256: sshFingerprint(options.hostKey),
    close: () => new Promise<void>((resolve) => {
      for (const client of connections) client.end();
      server.close(() => resolve());
    }),
  };
}

/** Accepts a listed public key whose signature verifies; refuses every other method. */
function authenticate(ctx: AuthContext, allowed: ParsedKey[], username: string | undefined, log: Logger): void {
  if (ctx.method !== 'publickey' || (username !== undefined && ctx.username !== username)) {
    return ctx.reject(['publickey']);
  }
  const key = allowed.find((k) => sameBytes(k.getPublicSSH(), ctx.key.data));
  if (!key) {
    log.info({ user: ctx.username, algo: ctx.key.algo }, 'sftp login refused: unknown public key');
    return ctx.reject(['publickey']);
  }
  // Without a signature the client only asks whether the key would be accepted.
  if (!ctx.signature) return ctx.accept();
  if (ctx.blob && key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return ctx.accept();
  ctx.reject(['publickey']);
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
