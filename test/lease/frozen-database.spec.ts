import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { leaseHolder } from '../../src/db/lease.js';
import { makeRunnerLease, RUNNER_LEASE, type RunnerLease } from '../../src/lease/runner-lease.js';
import { silentLogger } from '../../src/log.js';
import { DIALECTS, describeEachDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A TCP relay to the database server that can go silent: while frozen it holds every byte both ways
 * and answers nothing, as a network that drops packets (a firewall, a partition, a hung server) does.
 * A refused connection fails fast; a silent one leaves a query waiting for minutes.
 */
async function freezableRelay(target: { host: string; port: number }) {
  let frozen = false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  /** connections that went silent for good (their server failed over): never thawed */
  const dead = new Set<Socket>();
  const pipe = (from: Socket, to: Socket, client: Socket) => from.on('data', (chunk) => {
    if (dead.has(client)) return;
    if (frozen) held.push(() => to.write(chunk));
    else to.write(chunk);
  });
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => { client.destroy(); upstream.destroy(); sockets.delete(s); });
    }
    pipe(client, upstream, client);
    pipe(upstream, client, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    freeze() { frozen = true; },
    /** every connection open now goes silent for good; new ones reach the server (a failover behind one address) */
    failOver() {
      for (const s of sockets) dead.add(s);
      return dead.size / 2;
    },
    thaw() {
      frozen = false;
      for (const write of held.splice(0)) write();
    },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

// PostgreSQL and MariaDB: SQLite is one file on this host, with no network to lose
describeEachDatabase('runner lease while the database goes silent', (ctx) => {
  let relay: Awaited<ReturnType<typeof freezableRelay>>;
  let db: Db;
  let keeper: RunnerLease | undefined;
  beforeEach(async function () {
    const url = new URL(ctx().database.url!);
    relay = await freezableRelay({ host: url.hostname, port: Number(url.port) });
    url.host = `127.0.0.1:${relay.port}`;
    db = openDatabase({ database: { ...ctx().database, url: url.toString() } });
  });
  /** Starts keeper 'a' and waits until it is active; returns what it was told ('acquired', 'lost: …'). */
  async function activeKeeper(): Promise<string[]> {
    const events: string[] = [];
    keeper = makeRunnerLease({
      db, owner: 'a', ttlMs: 1500, intervalMs: 100, log: silentLogger,
      onAcquired: async () => { events.push('acquired'); },
      onLost: async (reason) => { events.push(`lost: ${reason}`); },
    });
    keeper.start();
    await waitFor('a active', () => events.length === 1);
    return events;
  }
  afterEach(async () => {
    relay?.thaw();
    await keeper?.stop();
    await db?.destroy();
    await relay?.close();
    await ctx().db('leases').delete();
  });

  it('the holder gives the lease up once it runs out unanswered, and takes it again by itself when the database answers', async function () {
    this.timeout(60_000);
    const events = await activeKeeper();
    relay.freeze();
    // a renewal waiting on a silent connection must not keep the daemon scheduling as the runner
    await waitFor('the loss noticed (the lease ran out)', () => events.length >= 2, 10_000);
    assert.match(events[1]!, /^lost: the lease could not be renewed before it expired/);
    assert.equal(keeper!.held(), false);
    relay.thaw();
    await waitFor('active again', () => events.length >= 3 && keeper!.held(), 20_000);
    assert.equal(events[2], 'acquired');
    assert.equal(events.length, 3, events.join('\n'));
  });

  it('after a failover that left every pooled connection silent, takes the lease again on new connections', async function () {
    this.timeout(60_000);
    const events = await activeKeeper();
    // the pool full of idle connections (5), as after a busy run
    await Promise.all(Array.from({ length: 5 }, () => db.transaction(async (trx) => { await trx('leases').first(); await new Promise((r) => setTimeout(r, 100)); })));
    assert.equal(relay.failOver(), 5);
    await waitFor('the loss noticed', () => events.length >= 2, 10_000);
    // each silent connection a query takes is given up and dropped from the pool: new ones reach the server
    await waitFor('active again', () => events.length >= 3 && keeper!.held(), 30_000);
    assert.deepEqual(events.map((e) => e.replace(/:.*/, '')), ['acquired', 'lost', 'acquired']);
    assert.equal((await leaseHolder(ctx().db, RUNNER_LEASE))?.owner, 'a');
  });
}, DIALECTS.filter((d) => d !== 'sqlite'));
