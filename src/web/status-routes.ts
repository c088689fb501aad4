import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { pageWithState } from './page-state.js';
import { servedText } from './served-text.js';
import type { StatusData } from './status-data.js';

/** Every answer of the HTTP endpoint: nothing inline, nothing framed, nothing cached, no referrer. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * A JSON answer, every string in it served text (servedText: PANs masked, registered secrets cut,
 * controls and bidi marks replaced): error texts and names from outside reach the probes and the page
 * raw otherwise (a job's error stays in memory as thrown; a row of an older version holds what it
 * was given), while logs, alerts and the run history all had this last defence.
 */
export function servedJson(body: unknown): string {
  return JSON.stringify(body, (_key, value: unknown) => (typeof value === 'string' ? servedText(value) : value), 2) + '\n';
}

/** The environment variable holding the page's bearer token. */
export const STATUS_TOKEN_ENV = 'BX_STATUS_TOKEN';

/**
 * The token from the environment: unset or empty means no token; a short one is refused (guessable),
 * and so is one with a character a Bearer header cannot carry (a space, a line break from a secrets
 * file, a non-ASCII letter): no request could ever present it, and the page would stay 401 for good.
 */
export function statusTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const token = env[STATUS_TOKEN_ENV];
  if (!token) return undefined;
  if (token.length < 16) throw new ConfigError(`${STATUS_TOKEN_ENV}: at least 16 characters (e.g. \`openssl rand -hex 32\`), not ${token.length}`);
  const bad = [...token].findIndex((c) => !BEARER_CHAR.test(c));
  if (bad >= 0) {
    throw new ConfigError(`${STATUS_TOKEN_ENV}: character ${bad + 1} of ${token.length} is no printable ASCII character other than a space, ` +
      'which a Bearer header cannot carry (a line break or a space copied from a file?)');
  }
  return token;
}

/** What `Authorization: Bearer <token>` carries (authorized reads the same characters). */
const BEARER_CHAR = /^[\x21-\x7e]$/;

// beside this module: src/web/static under tsx, dist/src/web/static once built (`npm run build` copies it)
const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'static');
// the chart library, served from node_modules by us (no CDN: the page works offline); found at the
// first request, so that a command that never serves the page does not depend on it
const chartJs = () => join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

/** The files the page is made of: a fixed list, so no request path ever becomes a file path. */
const FILES: Record<string, { file: string | (() => string); type: string }> = {
  '/': { file: join(STATIC_DIR, 'status.html'), type: 'text/html; charset=utf-8' },
  '/status': { file: join(STATIC_DIR, 'status.html'), type: 'text/html; charset=utf-8' },
  '/static/status.js': { file: join(STATIC_DIR, 'status.js'), type: 'text/javascript; charset=utf-8' },
  '/static/status.css': { file: join(STATIC_DIR, 'status.css'), type: 'text/css; charset=utf-8' },
  '/vendor/chart.umd.min.js': { file: chartJs, type: 'text/javascript; charset=utf-8' },
};

export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/**
 * The status page and its JSON endpoints (GET only). With a token, every one of them needs
 * `Authorization: Bearer <token>`, compared in constant time; without, they are open like /metrics
 * to requests addressed to this machine (addressedHere), and answered 421 otherwise.
 * `hosts`: more names it is reached by without a token (besides its host name and localhost).
 * Answers true when the path was one of ours.
 */
export function statusRoutes(data: StatusData, options: { token?: string; hosts?: readonly string[] } = {}): Route {
  const expected = options.token === undefined ? undefined : digest(options.token);
  const names = [hostname(), ...(options.hosts ?? [])].map((n) => n.toLowerCase());
  const cache = new Map<string, Buffer>();
  const read = (file: string | (() => string)) => {
    const path = typeof file === 'string' ? file : file();
    let body = cache.get(path);
    if (!body) cache.set(path, (body = readFileSync(path)));
    return body;
  };

  return async (req, res, url) => {
    const path = url.pathname;
    const isApi = path.startsWith('/api/');
    if (!isApi && !(path in FILES)) return false;
    if (expected && !authorized(req, expected)) {
      res.writeHead(401, { ...SECURITY_HEADERS, 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="bureau-exchange"' });
      res.end('a bearer token is required (Authorization: Bearer …)\n');
      return true;
    }
    if (!expected && !addressedHere(req, names)) {
      res.writeHead(421, { ...SECURITY_HEADERS, 'content-type': 'text/plain' });
      res.end(`without ${STATUS_TOKEN_ENV}, the status page answers only requests addressed to an IP address, localhost or ${names[0]}: ` +
        'any web site can point a name of its own at this address (DNS rebinding). Open it so, or set the token\n');
      return true;
    }
    if (!isApi) {
      const { file, type } = FILES[path]!;
      const page = type.startsWith('text/html') && req.method !== 'HEAD';
      const body = page ? await pageWithState(read(file).toString('utf8'), data) : read(file);
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    const json = (code: number, body: unknown): true => {
      res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': 'application/json' });
      res.end(servedJson(body));
      return true;
    };
    try {
      return await answerApi(data, path, url, json);
    } catch (err) {
      // the database down: the page says so (503, as /readyz), instead of a bare 500 'internal error'
      const problem = await data.databaseProblem();
      if (problem === null) throw err;
      return json(503, { error: `the database does not answer: ${problem}` });
    }
  };
}

/** One /api/ request: the JSON of `path`. */
async function answerApi(data: StatusData, path: string, url: URL, json: (code: number, body: unknown) => true): Promise<true> {
  const number = (name: string, max: number) => {
    const text = url.searchParams.get(name);
    return text !== null && /^\d{1,6}$/.test(text) ? Math.min(Math.max(Number(text), 1), max) : undefined;
  };
  switch (path) {
    case '/api/status':
      return json(200, await data.status());
    case '/api/runs': {
      const job = url.searchParams.get('job') ?? undefined;
      // `send` / `receive`: every bureau's runs of the job; `send:<CODE>` / `receive:<CODE>`: that bureau's
      // (the history names the first bureau's runs `send` / `receive`)
      if (job !== undefined && !/^(send|receive)(:[A-Z0-9]{1,8})?$/.test(job)) return json(400, { error: 'job: send, receive, send:<CODE> or receive:<CODE>' });
      return json(200, await data.runs({ job, limit: number('limit', 500) }));
    }
    case '/api/cards-per-day':
      return json(200, await data.cardsPerDay(number('days', 366)));
    case '/api/stock':
      return json(200, await data.stock(number('days', 3660)));
    default:
      return json(404, { error: 'not found: /api/status, /api/runs, /api/cards-per-day, /api/stock' });
  }
}

/**
 * Whether the request names this machine: an IP address, localhost, or one of `names`. A page of
 * another site can point a DNS name of its own at 127.0.0.1 (DNS rebinding): the operator's browser
 * (on the host, or with an SSH tunnel to it) then reads the page and its API as that site's own,
 * sending that site's name as the Host. No browser sends a request without one.
 */
function addressedHere(req: IncomingMessage, names: readonly string[]): boolean {
  const host = req.headers.host?.toLowerCase();
  if (host === undefined) return true;
  const name = (host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '')).replace(/\.$/, '');
  return isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost') || names.includes(name);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Hashing both sides first gives equal lengths, so timingSafeEqual tells nothing about the token's length either. */
function authorized(req: IncomingMessage, expected: Buffer): boolean {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(header);
  return timingSafeEqual(digest(match?.[1] ?? ''), expected) && match !== null;
}
