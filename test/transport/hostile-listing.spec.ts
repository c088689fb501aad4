import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import ssh2 from 'ssh2';
import { pickReadyReports } from '../../src/inbound/pick-reports.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { withSession } from '../../src/transport/remote.js';
import { makeSftpTransport, openSshFingerprint } from '../../src/transport/sftp.js';
import { testConfig } from '../helpers/config.js';

const { Server, utils } = ssh2;
const { STATUS_CODE } = utils.sftp;

/**
 * A bureau server whose listing leaves out what SFTP v3 makes optional: an entry's size, or its time.
 * OpenSSH always sends both, so this one is an ssh2 server of our own, answering only what a listing needs.
 */
function startListingServer(hostKey: Buffer, entries: Array<{ filename: string; attrs: Record<string, number> }>): Promise<{ port: number; close(): Promise<void> }> {
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    client.on('authentication', (ctx) => ctx.accept());
    client.on('error', () => undefined);
    client.on('ready', () => client.on('session', (accept) => accept().on('sftp', (acceptSftp) => {
      const sftp = acceptSftp();
      let listed = false;
      sftp.on('REALPATH', (reqid) => sftp.name(reqid, [{ filename: '/', longname: '/', attrs: {} as never }]));
      sftp.on('OPENDIR', (reqid) => { listed = false; sftp.handle(reqid, Buffer.from('dir')); });
      sftp.on('READDIR', (reqid) => {
        if (listed) return sftp.status(reqid, STATUS_CODE.EOF);
        listed = true;
        sftp.name(reqid, entries.map((e) => ({ filename: e.filename, longname: `-rw-r--r-- 1 b b 0 Nov 26 06:15 ${e.filename}`, attrs: e.attrs as never })));
      });
      sftp.on('CLOSE', (reqid) => sftp.status(reqid, STATUS_CODE.OK));
      sftp.on('STAT', (reqid) => sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE));
      sftp.on('LSTAT', (reqid) => sftp.status(reqid, STATUS_CODE.NO_SUCH_FILE));
    })));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((done) => server.close(() => done())),
  })));
}

describe('inbound/pick-reports against a server whose listing has no size or no time', function () {
  let dir: string;
  let hostKey: Buffer;
  let hostKeySha256: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'bx-listing-'));
    for (const name of ['host', 'client']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
    hostKey = readFileSync(join(dir, 'host'));
    hostKeySha256 = openSshFingerprint(Buffer.from(readFileSync(join(dir, 'host.pub'), 'utf8').split(' ')[1]!, 'base64'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves such a report alone and says why (it was downloaded without a size limit, or taken however young)', async function () {
    const old = Math.floor(Date.now() / 1000) - 3600;
    const [noSize, noTime, fine] = ['BXISSUER_REPORT_20261126_000001.xml.rsa', 'BXISSUER_REPORT_20261126_000002.xml.rsa', 'BXISSUER_REPORT_20261126_000003.xml.rsa'];
    const server = await startListingServer(hostKey, [
      { filename: noSize, attrs: { mode: 0o100644, atime: old, mtime: old } },
      { filename: noTime, attrs: { mode: 0o100644, size: 100 } },
      { filename: fine, attrs: { mode: 0o100644, size: 100, atime: old, mtime: old } },
    ]);
    try {
      const lines: Array<{ level: string; msg: string; remoteName?: string }> = [];
      const log = createLogger({ destination: new Writable({ write: (c, _e, done) => { lines.push(JSON.parse(c.toString())); done(); } }) });
      const config = testConfig({
        sftp: { ...testConfig().sftp, host: '127.0.0.1', port: server.port, username: 'bx', privateKeyFile: join(dir, 'client'), hostKeySha256, outboundDir: '/outbound' },
        reports: { stableCheckSeconds: 0 },
      });
      const deps = { config, log, now: () => new Date(), sleep: async () => undefined, ignored: new Set<string>() };
      const transport = makeSftpTransport(config.sftp, { log: silentLogger });
      const picked = await withSession(transport, (s) => pickReadyReports(s, deps));
      assert.deepEqual(picked.map((r) => [r.name, r.size]), [[fine, 100]]);
      assert.deepEqual(lines.filter((l) => l.remoteName).map((l) => [l.remoteName, l.msg]), [
        [JSON.stringify(noSize), 'remote report left alone: the server listed it without a valid size or time'],
        [JSON.stringify(noTime), 'remote report left alone: the server listed it without a valid size or time'],
      ]);
    } finally {
      await server.close();
    }
  });
});
