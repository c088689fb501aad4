import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import NodeRSA from 'node-rsa';
import { decryptRsaFile, encryptRsaReport, loadRsaPrivateKey } from '../../src/crypto/rsa.js';
import { ConfigError, InputError } from '../../src/errors.js';

function opensslKey(dir: string, name: string, extra: string[] = []): { keyFile: string; pubFile: string } {
  const keyFile = join(dir, `${name}.pem`);
  const pubFile = join(dir, `${name}.pub.pem`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile, ...extra], { stdio: 'ignore' });
  chmodSync(keyFile, 0o600);
  const passin = extra.includes('-pass') ? ['-passin', extra[extra.indexOf('-pass') + 1]!] : [];
  execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-out', pubFile, ...passin]);
  return { keyFile, pubFile };
}

/** Encrypts like the bureau with node-rsa (pkcs1_oaep), which chunks the clear text itself. */
function nodeRsaEncrypt(clear: Buffer, pubPem: string): Buffer {
  const rsa = new NodeRSA(pubPem, 'pkcs8-public-pem', { encryptionScheme: 'pkcs1_oaep' });
  return Buffer.from(rsa.encrypt(clear));
}

/** Encrypts independently with `openssl pkeyutl`, one 214-byte chunk per call. */
function opensslEncrypt(clear: Buffer, pubFile: string, dir: string): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; i < clear.length; i += 214) {
    const part = join(dir, 'part.bin');
    writeFileSync(part, clear.subarray(i, i + 214));
    blocks.push(execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', pubFile, '-pkeyopt', 'rsa_padding_mode:oaep', '-in', part]));
  }
  return Buffer.concat(blocks);
}

/** Fails the test when `promise` does not settle within `ms` (a hang must not pass or stall the suite). */
function within<T>(promise: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('crypto/rsa', function () {
  let dir: string;
  let ours: { keyFile: string; pubFile: string };
  let other: { keyFile: string; pubFile: string };
  let n = 0;
  const out = () => join(dir, `clear-${++n}.xml`);
  const write = (data: Buffer) => { const f = join(dir, `enc-${++n}.rsa`); writeFileSync(f, data); return f; };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bx-rsa-'));
    ours = opensslKey(dir, 'ours');
    other = opensslKey(dir, 'other');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('decrypts a multi-job node-rsa report across workers, in order', async () => {
    const clear = Buffer.from('<x>' + 'ABCDEFGHIJ0123456789'.repeat(3000) + '</x>');
    const key = loadRsaPrivateKey(ours.keyFile);
    const dest = out();
    const { clearBytes } = await decryptRsaFile(write(nodeRsaEncrypt(clear, readFileSync(ours.pubFile, 'utf8'))), { key, destination: dest, maxBytes: 1e6, workers: 2 });
    assert.equal(clearBytes, clear.length);
    assert.ok(readFileSync(dest).equals(clear));
  });

  it('decrypts what openssl pkeyutl encrypted block by block', async () => {
    const clear = randomBytes(214 * 5 + 17);
    const dest = out();
    await decryptRsaFile(write(opensslEncrypt(clear, ours.pubFile, dir)), { key: loadRsaPrivateKey(ours.keyFile), destination: dest, maxBytes: 1e6 });
    assert.ok(readFileSync(dest).equals(clear));
  });

  it('encryptRsaReport output is readable by openssl pkeyutl block by block and by node-rsa', async () => {
    const clear = randomBytes(214 * 2 + 5);
    const enc = encryptRsaReport(clear, readFileSync(ours.pubFile, 'utf8'));
    assert.equal(enc.length, 256 * 3);
    const parts: Buffer[] = [];
    for (let i = 0; i < enc.length; i += 256) {
      const f = write(enc.subarray(i, i + 256));
      parts.push(execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', ours.keyFile, '-pkeyopt', 'rsa_padding_mode:oaep', '-in', f]));
    }
    assert.ok(Buffer.concat(parts).equals(clear));
    const rsa = new NodeRSA(readFileSync(ours.keyFile, 'utf8'), 'pkcs8-private-pem', { encryptionScheme: 'pkcs1_oaep' });
    assert.ok(Buffer.from(rsa.decrypt(enc)).equals(clear));
  });

  it('encrypts a stream the same way', async () => {
    const clear = randomBytes(5000);
    const enc = encryptRsaReport(Readable.from([clear.subarray(0, 1000), clear.subarray(1000)]), readFileSync(ours.pubFile, 'utf8'));
    const chunks: Buffer[] = [];
    for await (const c of enc) chunks.push(c as Buffer);
    const dest = out();
    await decryptRsaFile(write(Buffer.concat(chunks)), { key: loadRsaPrivateKey(ours.keyFile), destination: dest, maxBytes: 1e6 });
    assert.ok(readFileSync(dest).equals(clear));
  });

  it('refuses the wrong key naming the first block', async () => {
    const enc = encryptRsaReport(randomBytes(1000), readFileSync(other.pubFile, 'utf8'));
    await assert.rejects(decryptRsaFile(write(enc), { key: loadRsaPrivateKey(ours.keyFile), destination: out(), maxBytes: 1e6 }),
      (err: Error) => err instanceof InputError && /RSA block 1 \(offset 0\) does not decrypt: wrong key/.test(err.message));
  });

  it('names a corrupt block in the middle of a large file', async () => {
    const enc = encryptRsaReport(randomBytes(214 * 300), readFileSync(ours.pubFile, 'utf8'));
    enc[256 * 200 + 7]! ^= 0xff;
    await assert.rejects(decryptRsaFile(write(enc), { key: loadRsaPrivateKey(ours.keyFile), destination: out(), maxBytes: 1e6, workers: 2 }),
      /RSA block 201 \(offset 51200\) does not decrypt/);
  });

  it('refuses a truncated file and garbage', async () => {
    const enc = encryptRsaReport(randomBytes(1000), readFileSync(ours.pubFile, 'utf8'));
    const key = loadRsaPrivateKey(ours.keyFile);
    await assert.rejects(decryptRsaFile(write(enc.subarray(0, enc.length - 10)), { key, destination: out(), maxBytes: 1e6 }),
      /encrypted size 1270 is not a multiple of the 256-byte RSA block/);
    await assert.rejects(decryptRsaFile(write(randomBytes(512)), { key, destination: out(), maxBytes: 1e6 }), /does not decrypt/);
    await assert.rejects(decryptRsaFile(write(Buffer.alloc(0)), { key, destination: out(), maxBytes: 1e6 }), /empty/);
  });

  it('stops at the clear size limit', async () => {
    const enc = encryptRsaReport(randomBytes(214 * 200), readFileSync(ours.pubFile, 'utf8'));
    await assert.rejects(decryptRsaFile(write(enc), { key: loadRsaPrivateKey(ours.keyFile), destination: out(), maxBytes: 20_000 }),
      /exceeds the limit of 20000 bytes/);
  });

  it('refuses a key file readable by group/other unless allowed', () => {
    const loose = join(dir, 'loose.pem');
    writeFileSync(loose, readFileSync(ours.keyFile), { mode: 0o644 });
    chmodSync(loose, 0o644);
    assert.throws(() => loadRsaPrivateKey(loose), (err: Error) => err instanceof ConfigError && /readable by group\/other \(mode 644\)/.test(err.message));
    assert.equal(loadRsaPrivateKey(loose, undefined, { allowInsecure: true }).asymmetricKeyType, 'rsa');
  });

  it('loads a passphrase-protected key, and refuses a wrong passphrase without quoting the key', () => {
    const { keyFile } = opensslKey(dir, 'locked', ['-aes-256-cbc', '-pass', 'pass:s3cret-phrase']);
    assert.equal(loadRsaPrivateKey(keyFile, 's3cret-phrase').asymmetricKeyType, 'rsa');
    assert.throws(() => loadRsaPrivateKey(keyFile, 'wrong-phrase'), (err: Error) => /wrong\/missing passphrase/.test(err.message) && !/PRIVATE KEY/.test(err.message));
    assert.throws(() => loadRsaPrivateKey(join(dir, 'missing.pem')), /cannot be read: ENOENT/);
    assert.ok(!existsSync(join(dir, 'missing.pem')));
  });

  it('says a key file it cannot read cannot be read (EISDIR; EACCES for the daemon\'s user), not that it is no key or the passphrase is wrong', () => {
    const folder = join(dir, 'a-folder.pem');
    mkdirSync(folder, { mode: 0o700 });
    const unreadable = (code: string) => (err: Error) => err instanceof ConfigError && err.message.includes(`cannot be read: ${code}`) && !/passphrase|not a PEM/.test(err.message);
    assert.throws(() => loadRsaPrivateKey(folder), unreadable('EISDIR'));
    // a 0600 key owned by root, loaded by the daemon's own user: run the load as nobody (we are root here)
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv')) return;
    chmodSync(dir, 0o711);
    const script = `const { loadRsaPrivateKey } = await import(${JSON.stringify(new URL('../../src/crypto/rsa.ts', import.meta.url).href)});
      try { loadRsaPrivateKey(process.argv[1]); console.log('loaded'); } catch (err) { console.log(err.constructor.name + ': ' + err.message); }`;
    const run = spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script, ours.keyFile], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^ConfigError: RSA private key file \S+ cannot be read: EACCES\n$/);
  });

  describe('write errors reject with the file system error, never hang or succeed', () => {
    const big = () => encryptRsaReport(randomBytes(214 * 400), readFileSync(ours.pubFile, 'utf8'));
    const decrypt = (destination: string, data = big()) =>
      within(decryptRsaFile(write(data), { key: loadRsaPrivateKey(ours.keyFile), destination, maxBytes: 1e7, workers: 2 }));
    const systemError = (code: string) => (err: NodeJS.ErrnoException) => !(err instanceof InputError) && err.code === code && typeof err.syscall === 'string';

    it('a destination in a missing folder', async () => {
      await assert.rejects(decrypt(join(dir, 'no-such-folder', 'clear.xml')), systemError('ENOENT'));
    });

    it('an existing path: a directory, or /dev/full', async () => {
      const folder = join(dir, 'a-folder');
      mkdirSync(folder);
      await assert.rejects(decrypt(folder), systemError('EEXIST'));
      await assert.rejects(decrypt('/dev/full'), systemError('EEXIST'));
      assert.deepEqual(readdirSync(folder), []);
    });

    it('a full disk (a small tmpfs): ENOSPC, for a small and a large clear text', async function () {
      const full = join(dir, 'full');
      mkdirSync(full);
      if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]).status !== 0) {
        if (process.env.CI) throw new Error('CI requires mounting a small tmpfs to simulate a full disk');
        this.skip();
      }
      try {
        await assert.rejects(decrypt(join(full, 'large.xml')), systemError('ENOSPC'));
        // its partial output (the caller removes it) fills the disk: now even one job's output does not fit
        await assert.rejects(decrypt(join(full, 'small.xml'), encryptRsaReport(randomBytes(5000), readFileSync(ours.pubFile, 'utf8'))), systemError('ENOSPC'));
      } finally {
        spawnSync('umount', [full]);
      }
    });

    it('stops when its signal aborts, with the signal\'s reason', async () => {
      const controller = new AbortController();
      const limit = new Error('time limit');
      controller.abort(limit);
      await assert.rejects(within(decryptRsaFile(write(big()), { key: loadRsaPrivateKey(ours.keyFile), destination: out(), maxBytes: 1e7, signal: controller.signal })), (err) => err === limit);
    });
  });
});
