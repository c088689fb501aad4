import { strict as assert } from 'node:assert';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CONNECT_TIMEOUT_SECONDS, openDatabase, pingDatabase, type Db } from '../../src/db/connection.js';
import type { Config } from '../../src/config/schema.js';

/** A listener on a loopback port that accepts every connection and never says a word (a hung server). */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

function open(client: 'pg' | 'mysql', url: string): Db {
  const database: Config['database'] = { client, url, filename: ':memory:', passwordEnv: 'BX_DB_PASSWORD', pool: { min: 0, max: 2 }, migrateOnStart: false };
  return openDatabase({ database });
}

// A server that accepts TCP and never answers made a PostgreSQL connect wait 30 s for knex's pool,
// then fail with "Timeout acquiring a connection. The pool is probably full".
describe('connecting to a database server that accepts and never answers', () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeEach(async () => { silent = await silentServer(); });
  afterEach(async () => silent.close());

  const cases = [
    { client: 'pg' as const, url: (port: number) => `postgres://bx@127.0.0.1:${port}/bx?connect_timeout=2` },
    { client: 'mysql' as const, url: (port: number) => `mysql://bx@127.0.0.1:${port}/bx?connectTimeout=2000` },
  ];
  for (const { client, url } of cases) {
    it(`${client}: fails within the URL's connect timeout, saying the server did not answer`, async function () {
      this.timeout(20_000);
      const db = open(client, url(silent.port));
      const started = Date.now();
      try {
        await assert.rejects(pingDatabase(db), (err: Error) => {
          assert.match(err.message, /^the database server did not answer the connection within 2 s \(/);
          return true;
        });
      } finally {
        await db.destroy();
      }
      const waited = Date.now() - started;
      assert.ok(waited >= 1_500 && waited < 9_000, `waited ${waited} ms`);
    });
  }

  it('without a bound in the URL, both drivers are given ours', async () => {
    const bounds = [
      [open('pg', `postgres://bx@127.0.0.1:${silent.port}/bx`), 'connectionTimeoutMillis'],
      [open('pg', `postgres://bx@127.0.0.1:${silent.port}/bx?connect_timeout=0`), 'connectionTimeoutMillis'],
      [open('pg', `postgres://bx@127.0.0.1:${silent.port}/bx?connect_timeout=soon`), 'connectionTimeoutMillis'],
      [open('mysql', `mysql://bx@127.0.0.1:${silent.port}/bx`), 'connectTimeout'],
    ] as const;
    for (const [db, key] of bounds) {
      assert.equal((db.client as { connectionSettings: Record<string, unknown> }).connectionSettings[key], CONNECT_TIMEOUT_SECONDS * 1000);
      await db.destroy();
    }
    assert.ok(CONNECT_TIMEOUT_SECONDS >= 5 && CONNECT_TIMEOUT_SECONDS <= 15);
  });
});
