import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as openpgp from 'openpgp';
import { PgpSignatureError, decryptToFile } from '../../src/crypto/pgp.js';
import { PermanentError } from '../../src/errors.js';
import { createGpgHome, requireGpg, type GpgHome } from '../helpers/gpg.js';

/**
 * OpenPGP framing chosen by whoever writes the message: anyone holding our public key can encrypt a
 * `.pgp` report, and the framing of its packets is outside the encryption and the bureau's signature.
 * Partial body lengths may be as small as 1 byte after the first 512 (RFC 4880 §4.2.2.4), and
 * openpgp.js spends ~0.1–0.2 ms on each piece: a 10 MB file of 1-byte pieces held one receive run
 * for hours (past reports.reportTimeLimitSeconds, at every run, never quarantined).
 */

/** One packet at `offset`, old or new format, its body joined from partial lengths if any (gpg writes both). */
function readPacket(data: Buffer, offset: number): { tag: number; body: Buffer; end: number } {
  const header = data[offset]!;
  assert.ok(header & 0x80, `a packet header at ${offset}`);
  if (!(header & 0x40)) {
    const type = header & 3;
    const size = [1, 2, 4, 0][type]!;
    const length = type === 3 ? data.length - offset - 1 : data.readUIntBE(offset + 1, size);
    const start = offset + 1 + size;
    return { tag: (header >> 2) & 0x0f, body: data.subarray(start, start + length), end: start + length };
  }
  const pieces: Buffer[] = [];
  let at = offset + 1;
  for (;;) {
    const first = data[at]!;
    let length: number;
    if (first < 192) [length, at] = [first, at + 1];
    else if (first < 224) [length, at] = [((first - 192) << 8) + data[at + 1]! + 192, at + 2];
    else if (first === 255) [length, at] = [data.readUInt32BE(at + 1), at + 5];
    else { // a partial length: more pieces follow
      pieces.push(data.subarray(at + 1, at + 1 + 2 ** (first & 0x1f)));
      at += 1 + 2 ** (first & 0x1f);
      continue;
    }
    pieces.push(data.subarray(at, at + length));
    return { tag: header & 0x3f, body: Buffer.concat(pieces), end: at + length };
  }
}

function definiteLength(n: number): Buffer {
  if (n < 192) return Buffer.from([n]);
  if (n < 8384) return Buffer.from([((n - 192) >> 8) + 192, (n - 192) & 0xff]);
  const out = Buffer.alloc(5, 0xff);
  out.writeUInt32BE(n, 1);
  return out;
}

/**
 * The same message with its encrypted-data packet (the last one) cut into partial-length pieces: the
 * first of 512 bytes (the RFC's minimum), then `piece` bytes each (a power of 2), then the rest. The
 * content, the encryption and the signature are untouched: only the framing changes.
 */
function reframe(message: Buffer, piece: number): Buffer {
  const packets: Array<ReturnType<typeof readPacket>> = [];
  for (let offset = 0; offset < message.length; offset = packets.at(-1)!.end) packets.push(readPacket(message, offset));
  const last = packets.at(-1)!;
  const parts = [message.subarray(0, packets.at(-2)?.end ?? 0)]; // the session key packets, as they were
  parts.push(Buffer.from([0xc0 | last.tag, 0xe0 + 9]), last.body.subarray(0, 512));
  let at = 512;
  for (; last.body.length - at > piece; at += piece) parts.push(Buffer.from([0xe0 + Math.log2(piece)]), last.body.subarray(at, at + piece));
  parts.push(definiteLength(last.body.length - at), last.body.subarray(at));
  return Buffer.concat(parts);
}

describe('crypto/pgp: the framing of a .pgp message chosen by its writer', function () {
  let gpg: GpgHome;
  let dir: string;
  let issuerPub: string;
  let decryptionKey: openpgp.PrivateKey;
  let bureauFpr: string;
  let bureauKey: openpgp.PublicKey;
  const clear = Buffer.from(Array.from({ length: 2500 }, (_, i) => `<Shipment><Id>${i}</Id><Courier>DHL</Courier></Shipment>\n`).join(''));
  let n = 0;

  before(async function () {
    requireGpg(this);
    gpg = createGpgHome();
    dir = mkdtempSync(join(tmpdir(), 'bx-pgp-framing-'));
    const issuerFpr = gpg.generateKey('BX Issuer <issuer@example.test>');
    issuerPub = gpg.exportPublicKey(issuerFpr);
    decryptionKey = await openpgp.readPrivateKey({ armoredKey: readFileSync(gpg.exportSecretKey(issuerFpr), 'utf8') });
    bureauFpr = gpg.generateKey('Bureau <bureau@example.test>');
    bureauKey = await openpgp.readKey({ armoredKey: readFileSync(gpg.exportPublicKey(bureauFpr), 'utf8') });
  });
  after(() => {
    gpg?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function decrypt(message: Buffer) {
    const file = join(dir, `m${++n}.pgp`);
    writeFileSync(file, message);
    const destination = `${file}.xml`;
    const started = Date.now();
    const outcome = await decryptToFile(createReadStream(file), { decryptionKey, verificationKeys: [bureauKey], destination, maxBytes: 1 << 30 })
      .then((result) => ({ result, clear: readFileSync(destination) }), (err: Error) => ({ err, left: existsSync(destination) }));
    return { ...outcome, ms: Date.now() - started };
  }

  it('refuses a bureau-signed gpg message cut into 1-byte pieces at once, instead of decrypting it for minutes', async function () {
    this.timeout(20_000);
    const hostile = reframe(gpg.gpgEncrypt(clear, issuerPub, { signWith: bureauFpr }), 1);
    const outcome = await decrypt(hostile);
    assert.ok('err' in outcome, 'refused');
    assert.ok(outcome.err instanceof PermanentError && !(outcome.err instanceof PgpSignatureError), `a refusal of the message: ${outcome.err}`);
    assert.match(outcome.err.message, /pieces/);
    assert.equal(outcome.left, false, 'no clear file is left');
    assert.ok(outcome.ms < 10_000, `refused after ${outcome.ms} ms`);
  });

  it('refuses 1-byte pieces around a compressed message too, and 16-byte ones', async function () {
    this.timeout(20_000);
    // content that does not compress: as many pieces as clear bytes, each inflating to a piece as small
    const noisy = Buffer.from(`<BureauReport>${randomBytes(60_000).toString('base64')}</BureauReport>`);
    for (const [message, piece] of [[gpg.gpgEncrypt(noisy, issuerPub, { signWith: bureauFpr, compress: true }), 1], [gpg.gpgEncrypt(clear, issuerPub, { signWith: bureauFpr }), 16]] as const) {
      const outcome = await decrypt(reframe(message, piece));
      assert.ok('err' in outcome && outcome.err instanceof PermanentError, `refused: pieces of ${piece}`);
      assert.match(outcome.err.message, /pieces/);
    }
  });

  it('refuses 1-byte pieces around a bzip2-compressed message (bzip2 joins them into whole blocks) once it has spent its CPU budget', async function () {
    this.timeout(60_000);
    const noisy = Buffer.from(`<BureauReport>${randomBytes(150_000).toString('base64')}</BureauReport>`);
    const bzip2 = execFileSync('gpg', ['--homedir', gpg.home, '--batch', '--yes', '--trust-model', 'always', '--compress-algo', 'bzip2',
      '--recipient-file', issuerPub, '--local-user', bureauFpr, '--sign', '--encrypt', '--output', '-'], { input: noisy, stdio: ['pipe', 'pipe', 'pipe'] });
    const file = join(dir, 'bzip2-pieces.pgp');
    writeFileSync(file, reframe(bzip2, 1));
    const destination = `${file}.xml`;
    const started = process.cpuUsage();
    // a budget scaled down for the test (the default: 30 s plus 250 ms per MiB)
    const err = await decryptToFile(createReadStream(file), {
      decryptionKey, verificationKeys: [bureauKey], destination, maxBytes: 1 << 30, cpuBudget: { baseMs: 1_500, msPerMiB: 250 },
    }).then(() => null, (e: Error) => e);
    const spent = process.cpuUsage(started);
    assert.ok(err instanceof PermanentError && !(err instanceof PgpSignatureError), `refused: ${err}`);
    assert.match(err.message, /s of CPU/);
    assert.ok((spent.user + spent.system) / 1000 < 6_000, 'stopped soon after its budget');
    assert.equal(existsSync(destination), false);
  });

  it('stops at its signal (a report time limit) instead of decrypting on in the background, and leaves no file', async function () {
    this.timeout(60_000);
    // 512-byte pieces (as encoders write them: no framing refusal to race with) of a message large
    // enough that the decryption is still running when its first clear bytes reach the file
    const slow = reframe(gpg.gpgEncrypt(Buffer.concat(Array.from({ length: 100 }, () => clear)), issuerPub, { signWith: bureauFpr }), 512);
    const file = join(dir, 'slow.pgp');
    writeFileSync(file, slow);
    const destination = `${file}.xml`;
    const controller = new AbortController();
    const reason = new Error('report time limit');
    let abortedAt = 0;
    const watch = setInterval(() => {
      if (existsSync(destination) && statSync(destination).size > 0 && !abortedAt) {
        abortedAt = Date.now();
        controller.abort(reason);
      }
    }, 5);
    try {
      await assert.rejects(decryptToFile(createReadStream(file), { decryptionKey, verificationKeys: [bureauKey], destination, maxBytes: 1 << 30, signal: controller.signal }),
        (err) => err === reason);
    } finally {
      clearInterval(watch);
    }
    assert.ok(abortedAt > 0 && Date.now() - abortedAt < 5_000, `stopped ${Date.now() - abortedAt} ms after the abort`);
    assert.equal(existsSync(destination), false);
  });

  it('decrypts the same message framed as encoders write it: 512-byte pieces (openpgp.js, the RFC minimum) and 8 KiB ones', async function () {
    const message = gpg.gpgEncrypt(clear, issuerPub, { signWith: bureauFpr });
    for (const piece of [512, 8192]) {
      const outcome = await decrypt(reframe(message, piece));
      assert.ok('clear' in outcome, `pieces of ${piece}: ${'err' in outcome ? outcome.err : ''}`);
      assert.ok(outcome.clear.equals(clear));
      assert.equal(outcome.result.signatureVerified, true);
    }
  });
});
