import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { PermanentError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { freeLoopbackPort } from '../../src/sandbox/init.js';
import { withSession } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { requireSshd, startSshd, type SshdServer } from '../helpers/sshd.js';

/** The fingerprint of an OpenSSH public key file, as ssh-keygen prints it (independently of our code). */
function keygenFingerprint(pubFile: string): string {
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubFile]).toString().split(' ')[1]!;
}

describe('transport/sftp host key pinning against an sshd holding keys of several types', function () {
  let server: SshdServer;
  let sshd: ChildProcess | undefined;
  let port: number;
  const pins: Record<string, string> = {};

  before(async function () {
    requireSshd(this);
    server = await startSshd();
    // a second sshd on the same chroot, holding the helper's Ed25519 key and an RSA and an ECDSA key, as most servers do
    const dir = dirname(server.root);
    pins.ed25519 = keygenFingerprint(join(dir, 'host_key.pub'));
    const extra = ['rsa', 'ecdsa'].map((type) => {
      const file = join(dir, `host_key_${type}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', file]);
      pins[type] = keygenFingerprint(`${file}.pub`);
      return `HostKey ${file}`;
    });
    port = await freeLoopbackPort();
    const config = readFileSync(join(dir, 'sshd_config'), 'utf8')
      .replace(/^Port .*$/m, `Port ${port}`)
      .replace(/^PidFile .*$/m, `PidFile ${join(dir, 'sshd-keys.pid')}\n${extra.join('\n')}`);
    writeFileSync(join(dir, 'sshd-keys_config'), config);
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd-keys_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let seen = '';
      sshd!.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/Server listening/.test(seen)) resolve();
      });
      sshd!.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${seen}`)));
    });
  });
  after(async function () {
    if (sshd && sshd.exitCode === null) {
      const exited = new Promise((resolve) => sshd!.once('exit', resolve));
      sshd.kill('SIGKILL');
      await exited;
    }
    await server?.stop();
  });

  const transport = (hostKeySha256: string, log = createLogger({ level: 'silent' })) =>
    makeSftpTransport(server.sftpConfig({ port, hostKeySha256 }), { log });

  for (const type of ['ed25519', 'ecdsa', 'rsa']) {
    it(`connects with the server's ${type} key pinned (ssh2 prefers Ed25519), and again on the next connection`, async function () {
      const t = transport(pins[type]!);
      for (let i = 0; i < 2; i++) {
        assert.deepEqual((await withSession(t, (s) => s.list('/'))).map((e) => e.name).sort(), ['inbound', 'outbound']);
      }
    });
  }

  it('refuses a server none of whose keys is the pinned one, naming each key it presented, without retrying', async function () {
    const lines: string[] = [];
    const log = createLogger({ destination: new Writable({ write: (c, _e, done) => { lines.push(c.toString()); done(); } }) });
    const wrong = 'SHA256:' + 'A'.repeat(43);
    await assert.rejects(transport(wrong, log).connect(), (err: Error) => {
      assert.ok(err instanceof PermanentError, err.message);
      assert.match(err.message, new RegExp(`^host keys .* of 127\\.0\\.0\\.1:${port} do not match the pinned ${wrong} \\(sftp\\.hostKeySha256\\): connection refused$`));
      for (const pin of Object.values(pins)) assert.ok(err.message.includes(pin), `${pin} named in: ${err.message}`);
      return true;
    });
    assert.equal(lines.filter((l) => /retrying/.test(l)).length, 0);
  });
});
