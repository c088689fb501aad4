import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSshKeyPair } from '../../src/sandbox/keys.js';
import Client from 'ssh2-sftp-client';
import { startSftpServer, sshFingerprint, type RunningSftpServer } from '../../src/sandbox/sftp-server.js';

describe('sandbox SFTP server', function () {
  const clientKey = generateSshKeyPair();
  const hostKey = generateSshKeyPair();
  let base: string;
  let root: string;
  let outside: string;
  let server: RunningSftpServer;
  let sftp: Client;

  const connect = async (privateKey: string, extra: Record<string, unknown> = {}) => {
    const c = new Client();
    await c.connect({ host: server.host, port: server.port, username: 'bx', privateKey, readyTimeout: 5000, ...extra });
    return c;
  };

  before(async function () {
    base = mkdtempSync(join(tmpdir(), 'bx-sftp-'));
    root = join(base, 'root');
    outside = join(base, 'outside');
    mkdirSync(join(root, 'inbound'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), 'outside the root');
    symlinkSync(outside, join(root, 'inbound', 'to-outside-dir'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'inbound', 'to-outside-file'));
    writeFileSync(join(root, 'inbound', 'inside.txt'), 'inside');
    symlinkSync(join(root, 'inbound', 'inside.txt'), join(root, 'inbound', 'to-inside-file'));
    server = await startSftpServer({ root, hostKey: hostKey.private, authorizedKeys: [clientKey.public], username: 'bx' });
    sftp = await connect(clientKey.private);
  });

  after(async function () {
    await sftp?.end();
    await server?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('listens on a free loopback port and reports the host key fingerprint as OpenSSH prints it', function () {
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.port > 0);
    assert.equal(server.hostKeySha256, sshFingerprint(hostKey.public));
    assert.match(server.hostKeySha256, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('refuses an unknown key, a wrong user name and password logins', async function () {
    const stranger = generateSshKeyPair();
    await assert.rejects(connect(stranger.private), /authentication/i);
    await assert.rejects(connect(clientKey.private, { username: 'someone-else' }), /authentication/i);
    await assert.rejects(connect('', { privateKey: undefined, password: 'secret' }), /authentication/i);
  });

  it('writes, stats, lists, reads back and removes files', async function () {
    await sftp.put(Buffer.from('hello bureau'), '/inbound/a.dat.part', { writeStreamOptions: { mode: 0o600 } });
    const stat = await sftp.stat('/inbound/a.dat.part');
    assert.equal(stat.size, 12);
    assert.equal(stat.mode & 0o777, 0o600);
    const names = (await sftp.list('/inbound')).map((e) => `${e.type}${e.name}`);
    assert.ok(names.includes('-a.dat.part'));
    assert.equal((await sftp.get('/inbound/a.dat.part') as Buffer).toString(), 'hello bureau');
    assert.equal(readFileSync(join(root, 'inbound', 'a.dat.part'), 'utf8'), 'hello bureau');
    await sftp.delete('/inbound/a.dat.part');
    assert.equal(await sftp.exists('/inbound/a.dat.part'), false);
  });

  it('renames without ever overwriting an existing name', async function () {
    await sftp.put(Buffer.from('first'), '/inbound/x.part');
    await sftp.rename('/inbound/x.part', '/inbound/x');
    await sftp.put(Buffer.from('second'), '/inbound/y.part');
    await assert.rejects(sftp.rename('/inbound/y.part', '/inbound/x'), /exists/);
    assert.equal(readFileSync(join(root, 'inbound', 'x'), 'utf8'), 'first');
    assert.ok(existsSync(join(root, 'inbound', 'y.part')));
  });

  it('creates and removes folders, recursively too, but never the root', async function () {
    await sftp.mkdir('/outbound/processed/2026', true);
    assert.equal(await sftp.exists('/outbound/processed/2026'), 'd');
    await sftp.rmdir('/outbound/processed/2026');
    assert.equal(await sftp.exists('/outbound/processed/2026'), false);
    await assert.rejects(sftp.rmdir('/'), /denied|root/i);
  });

  it('maps relative paths and "." onto the root', async function () {
    assert.equal(await sftp.realPath('.'), '/');
    assert.equal((await sftp.get('inbound/inside.txt') as Buffer).toString(), 'inside');
    assert.equal((await sftp.get('/inbound/../inbound/./inside.txt') as Buffer).toString(), 'inside');
  });

  for (const hostile of ['/../secret.txt', '../../etc/passwd', '/inbound/../../outside/secret.txt', '..']) {
    it(`refuses to climb above the root: ${hostile}`, async function () {
      await assert.rejects(sftp.get(hostile), /above the root|denied/i);
      await assert.rejects(sftp.put(Buffer.from('x'), hostile), /above the root|denied/i);
    });
  }

  it('refuses symbolic links that lead outside, for reading, writing, listing and stat', async function () {
    await assert.rejects(sftp.get('/inbound/to-outside-file'), /outside/);
    await assert.rejects(sftp.get('/inbound/to-outside-dir/secret.txt'), /outside/);
    await assert.rejects(sftp.put(Buffer.from('x'), '/inbound/to-outside-dir/planted'), /outside/);
    await assert.rejects(sftp.list('/inbound/to-outside-dir'), /outside/);
    await assert.rejects(sftp.stat('/inbound/to-outside-file'), /outside/);
    await assert.rejects(sftp.rename('/inbound/x', '/inbound/to-outside-dir/x'), /outside/);
    assert.equal(existsSync(join(outside, 'planted')), false);
    assert.equal(existsSync(join(outside, 'x')), false);
  });

  it('follows symbolic links that stay inside', async function () {
    assert.equal((await sftp.get('/inbound/to-inside-file') as Buffer).toString(), 'inside');
  });

  it('answers missing files with "no such file"', async function () {
    await assert.rejects(sftp.get('/inbound/nothing-here'), /no such file/i);
    assert.equal(await sftp.exists('/inbound/nothing-here'), false);
  });

  it('lists a large folder completely, in several READDIR answers', async function () {
    mkdirSync(join(root, 'many'));
    for (let i = 0; i < 350; i++) writeFileSync(join(root, 'many', `f${String(i).padStart(3, '0')}`), '');
    const names = (await sftp.list('/many')).map((e) => e.name).sort();
    assert.equal(names.length, 350);
    assert.equal(names[349], 'f349');
  });

  it('limits the handles one session may hold open', async function () {
    const raw = (sftp as unknown as { sftp: import('ssh2').SFTPWrapper }).sftp;
    const open = () => new Promise<Buffer>((resolve, reject) => raw.open('/inbound/inside.txt', 'r', (err, h) => (err ? reject(err) : resolve(h))));
    const close = (h: Buffer) => new Promise<void>((resolve, reject) => raw.close(h, (err) => (err ? reject(err) : resolve())));
    const held: Buffer[] = [];
    for (let i = 0; i < 256; i++) held.push(await open());
    await assert.rejects(open(), /too many open handles/);
    await close(held.pop()!);
    held.push(await open());
    for (const h of held) await close(h);
  });

  it('stops accepting connections once closed', async function () {
    const other = await startSftpServer({ root, hostKey: hostKey.private, authorizedKeys: [clientKey.public] });
    const c = new Client();
    await c.connect({ host: other.host, port: other.port, username: 'any', privateKey: clientKey.private });
    await other.close();
    const again = new Client();
    await assert.rejects(again.connect({ host: other.host, port: other.port, username: 'any', privateKey: clientKey.private, readyTimeout: 2000, retries: 0 } as any));
  });
});
