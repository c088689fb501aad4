import { timingSafeEqual } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
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
  /** a connection not logged in by then is cut (default 30 s; OpenSSH's LoginGraceTime is 120 s) */
  loginGraceMs?: number;
}

/** Connections at once: more are refused, so that a client opening many cannot exhaust descriptors. */
const MAX_CONNECTIONS = 64;
/** close(): how long a peer told to disconnect may take to close its side before it is cut off. */
const CLOSE_GRACE_MS = 2_000;

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
  // the TCP sockets are ours (ssh2's injectSocket): a peer that never logs in, or never closes its side
  // when told to, is cut off, instead of holding a descriptor and close() (sandbox serve's stop) for ever
  const sockets = new Map<string, { socket: Socket; loginDeadline: NodeJS.Timeout }>();
  const ssh = new ssh2.Server({ hostKeys: [options.hostKey], ident: 'bureau-exchange-sandbox' }, (client, info) => {
    connections.add(client);
    // Nagle on the server's small STATUS replies stalls every pipelined write (bench/RESULTS.md).
    (client as Connection & { setNoDelay(on: boolean): unknown }).setNoDelay(true);
    client.on('close', () => connections.delete(client));
    client.on('error', (err) => log.debug({ err: err.message }, 'sftp client connection error'));
    client.on('authentication', (ctx) => authenticate(ctx, allowed, options.username, log));
    client.on('ready', () => {
      clearTimeout(sockets.get(`${info.ip}:${info.port}`)?.loginDeadline);
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
  const server = createServer((socket) => {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    // a deadline, not an idle time-out: a byte now and then must not keep an anonymous connection
    const loginDeadline = setTimeout(() => {
      log.info({ peer: key }, 'sftp connection not logged in in time: closed');
      socket.destroy();
    }, options.loginGraceMs ?? 30_000);
    sockets.set(key, { socket, loginDeadline });
    socket.on('close', () => {
      clearTimeout(loginDeadline);
      sockets.delete(key);
    });
    ssh.injectSocket(socket);
  });
  server.maxConnections = MAX_CONNECTIONS;
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
      const cut = setTimeout(() => sockets.forEach(({ socket }) => socket.destroy()), CLOSE_GRACE_MS);
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
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
