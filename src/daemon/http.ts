import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { SECURITY_HEADERS, servedJson, type Route } from '../web/status-routes.js';
import type { Health } from './health.js';

/**
 * What one client can hold. Every connection is a file descriptor of the daemon, whose jobs need
 * them (SFTP, database, report files): past `maxConnections` (the monitoring, the probes and a few
 * pages, four requests each) a new one is closed at once, and one that has not sent its request
 * headers within `headersTimeoutMs` is answered 408 and closed (Node's 60 s, checked every 30 s, let a
 * slow client hold thousands).
 */
export const HTTP_LIMITS = { maxConnections: 64, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, checkEveryMs: 1000 } as const;

export interface HttpEndpoint {
  /** where it listens (the real port when 0 was configured) */
  url: string;
  close(): Promise<void>;
}

/**
 * GET /livez (the process answers), /readyz (database reachable, runner lease known), /healthz
 * (database reachable, not stopping): JSON, 200 or 503; the bureau's state is in the body, never
 * a 503. GET /metrics (Prometheus text). GET / and /api/* (the status page, when given; it may
 * require a bearer token). Read-only: bind it to loopback (the default) or a network only the
 * monitoring reaches. Every answer carries the strict security headers (SECURITY_HEADERS).
 */
export async function startHttpServer(
  config: Config['http'],
  deps: { health(): Promise<Health>; registry: Registry; log: Logger; page?: Route },
): Promise<HttpEndpoint> {
  const limits = { headersTimeout: HTTP_LIMITS.headersTimeoutMs, requestTimeout: HTTP_LIMITS.requestTimeoutMs, connectionsCheckingInterval: HTTP_LIMITS.checkEveryMs };
  const server: Server = createServer(limits, (req, res) => {
    const reply = (code: number, type: string, body: string) => {
      res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': type });
      res.end(body);
    };
    const url = requestUrl(req.url);
    if (!url) return reply(400, 'text/plain', 'bad request target\n');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n');
    const json = (code: number, body: unknown) => reply(code, 'application/json', servedJson(body));
    const handle = async () => {
      // the process answers: nothing else is looked at (a slow database must not make it look dead)
      if (path === '/livez') return json(200, { alive: true, pid: process.pid, uptimeSeconds: Math.round(process.uptime()) });
      if (path === '/healthz' || path === '/readyz') {
        const health = await deps.health();
        return json((path === '/healthz' ? health.healthy : health.ready) ? 200 : 503, health);
      }
      if (path === '/metrics') return reply(200, deps.registry.contentType, await deps.registry.metrics());
      if (deps.page && (await deps.page(req, res, url))) return;
      return reply(404, 'text/plain', `not found: try ${deps.page ? '/ (status page), /api/status, ' : ''}/livez, /readyz, /healthz or /metrics\n`);
    };
    handle().catch((err) => {
      deps.log.error({ path, error: messageOf(err) }, 'http request failed');
      if (!res.headersSent) reply(500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  server.maxConnections = HTTP_LIMITS.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  deps.log.info({ url, statusPage: Boolean(deps.page) }, 'health, metrics and status page listening');
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * The request target as a URL, or undefined when it is none: a throw here would be an uncaught
 * exception in the server's listener, ending the daemon (`GET //[ HTTP/1.1` did). The origin form
 * (`/path?query`) is read against a fixed origin, so that `//host/path` stays a path, never a host.
 */
function requestUrl(target: string | undefined): URL | undefined {
  try {
    return target?.startsWith('/') ? new URL(`http://localhost${target}`) : new URL(target ?? '');
  } catch {
    return undefined;
  }
}
