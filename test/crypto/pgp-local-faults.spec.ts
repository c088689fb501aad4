import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as openpgp from 'openpgp';
import { decryptToFile } from '../../src/crypto/pgp.js';
import { PermanentError } from '../../src/errors.js';
import { createGpgHome, requireGpg, type GpgHome } from '../helpers/gpg.js';

/**
 * A read error of the downloaded report (the local disk: EIO) says nothing about the report: the run
 * must fail with it, and the report stay on the server, never be quarantined as undecryptable. openpgp
 * wraps an error met while it parses a packet header into one of its own ("Parsing … failed: EIO…"),
 * which decryptToFile took for a fault of the message.
 */
describe('crypto/pgp: a read error of the encrypted file is a local fault', function () {
  let gpg: GpgHome;
  let dir: string;
  let decryptionKey: openpgp.PrivateKey;
  let message: Buffer;

  before(async function () {
    requireGpg(this);
    gpg = createGpgHome();
    dir = mkdtempSync(join(tmpdir(), 'bx-pgp-eio-'));
    const issuerFpr = gpg.generateKey('BX Issuer <issuer@example.test>');
    decryptionKey = await openpgp.readPrivateKey({ armoredKey: readFileSync(gpg.exportSecretKey(issuerFpr), 'utf8') });
    message = gpg.gpgEncrypt(Buffer.alloc(200_000, '<Shipment/>'), gpg.exportPublicKey(issuerFpr));
  });
  after(() => {
    gpg?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The file's first `good` bytes, then the error a failing disk gives, as a file stream would emit it (later, not inside read()). */
  function failingAfter(good: number): { source: Readable; ioError: NodeJS.ErrnoException } {
    const ioError: NodeJS.ErrnoException = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', errno: -5, syscall: 'read' });
    let sent = false;
    const source = new Readable({
      read() {
        if (sent) setImmediate(() => this.destroy(ioError));
        else this.push(message.subarray(0, good));
        sent = true;
      },
    });
    return { source, ioError };
  }

  for (const good of [100, 600, 64 * 1024]) {
    it(`rejects with the read error itself when it comes after ${good} bytes, and leaves no file`, async function () {
      const { source, ioError } = failingAfter(good);
      const destination = join(dir, `eio-${good}.xml`);
      const err = await decryptToFile(source, { decryptionKey, destination, maxBytes: 1 << 30 }).then(() => null, (e: Error) => e);
      assert.ok(!(err instanceof PermanentError), `not a fault of the message: ${err}`);
      assert.equal(err, ioError);
      assert.equal(existsSync(destination), false);
    });
  }
});
