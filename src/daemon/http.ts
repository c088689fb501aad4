import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import type { Health } from './health.js';

export interface HttpEndpoint {
  /** where it listens (the real port when 0 was configured) */
  url: string;
  close(): Promise<void>;
}

/**
 * GET /livez (the process answers), /readyz (database reachable, runner lease known), /healthz
 * (database reachable, not stopping): JSON, 200 or 503; the bureau's state is in the body, never
 * a 503. GET /metrics (Prometheus text). Read-only, no authentication: bind it to loopback (the
 * default) or a network only the monitoring reaches.
 */
export async function startHttpServer(
  config: Config['http'],
  deps: { health(): Promise<Health>; registry: Registry; log: Logger },
): Promise<HttpEndpoint> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n');
    const json = (code: number, body: unknown) => reply(code, 'application/json', JSON.stringify(body, null, 2) + '\n');
    const handle = async () => {
      // the process answers: nothing else is looked at (a slow database must not make it look dead)
      if (path === '/livez') return json(200, { alive: true, pid: process.pid, uptimeSeconds: Math.round(process.uptime()) });
      if (path === '/healthz' || path === '/readyz') {
        const health = await deps.health();
        return json((path === '/healthz' ? health.healthy : health.ready) ? 200 : 503, health);
      }
      if (path === '/metrics') return reply(200, deps.registry.contentType, await deps.registry.metrics());
      return reply(404, 'text/plain', 'not found: try /livez, /readyz, /healthz or /metrics\n');
    };
    handle().catch((err) => {
      deps.log.error({ path, error: messageOf(err) }, 'http request failed');
      if (!res.headersSent) reply(500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  deps.log.info({ url }, 'health and metrics listening');
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
