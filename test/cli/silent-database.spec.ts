import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { newPanKey } from '../helpers/db.js';

/**
 * A database server that takes the TCP connection and never says a word (a hung server, a firewall
 * that answers the handshake, a proxy whose backend is gone): a command fails in bounded time with a
 * message that says so, and exits. It used to print knex's pool timeout after 60 s and then hang.
 */
describe('CLI: a database that takes the connection and never answers', function () {
  this.timeout(200_000);
  const env = { BX_PAN_KEY: newPanKey().toString('base64') };
  let dir: string;
  let server: Server;
  const sockets: Socket[] = [];
  let port: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bx-silent-db-'));
    server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a database that refuses: stdout stays empty (no library line, no stack), one line on stderr names the database and says why', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    for (const [client, scheme] of [['pg', 'postgres'], ['mysql', 'mysql']] as const) {
      const config = join(dir, `refused-${client}.yaml`);
      writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n` +
        `database: { client: ${client}, url: "${scheme}://bx@127.0.0.1:${closedPort}/bx" }\n`);
      for (const command of [['status', '--json'], ['history', '--json']]) {
        const r = await runCli(['--config', config, ...command], env);
        assert.equal(r.code, 1, `${client} ${command.join(' ')}: ${r.stderr}`);
        assert.equal(r.stdout, '', `${client} ${command.join(' ')}: stdout holds more than the result`);
        // the line names the database (the driver's words alone do not say it is the database)
        assert.match(r.stderr, new RegExp(`bureau-exchange: error: database ${scheme}://bx@127\\.0\\.0\\.1:${closedPort}/bx: .*ECONNREFUSED`));
      }
    }
  });

  for (const [client, scheme] of [['pg', 'postgres'], ['mysql', 'mysql']] as const) {
    it(`${client}: status fails with a clear line and exits, well before a cron interval`, async () => {
      const config = join(dir, `${client}.yaml`);
      writeFileSync(config, `issuer: { code: BXISSUER }\nbureau: { code: BUREAU01 }\nworkDir: ${dir}/var\n` +
        `database: { client: ${client}, url: "${scheme}://bx@127.0.0.1:${port}/bx" }\n`);
      const started = Date.now();
      const r = await runCli(['--config', config, 'status'], env, 150_000);
      const seconds = (Date.now() - started) / 1000;
      assert.equal(r.code, 1, `exit ${r.code} after ${seconds} s: ${r.stderr}`);
      assert.ok(seconds < 100, `took ${seconds} s`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('bureau-exchange: ')).length, 1, r.stderr);
      // knex's "Acquire connection error" with its stack repeated that line
      assert.doesNotMatch(r.stderr, /Acquire connection error|^\s+at /m, r.stderr);
      // the connect itself is bounded (10 s), named, and says the server did not answer
      assert.match(r.stderr, new RegExp(`bureau-exchange: error: database ${scheme}://bx@127\\.0\\.0\\.1:${port}/bx: .*did not answer`));
    });
  }
});
