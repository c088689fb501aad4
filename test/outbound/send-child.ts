/**
 * A send run in its own process for the crash tests: it stops at the point named in BX_SEND_CHILD
 * (a send fault point, or 'uploading': half of the file written to `<name>.part` on the server),
 * tells the parent (IPC) and waits there to be killed with SIGKILL.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Config } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/connection.js';
import { silentLogger } from '../../src/log.js';
import { makeSendJob, type SendFaultPoint } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import type { RemoteSession, Transport } from '../../src/transport/remote.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { pauseHere } from '../helpers/crash-child.js';

export type SendPausePoint = SendFaultPoint | 'uploading';

export interface ChildSpec {
  config: Config;
  panKey: string;
  pauseAt: SendPausePoint;
  businessDate: string;
}

/** Uploads through the real session, but the first one sends half of the file, then stops at 'uploading'. */
function stoppingMidUpload(inner: Transport): Transport {
  let stopped = false;
  return {
    async connect() {
      const session = await inner.connect();
      const uploadAtomic: RemoteSession['uploadAtomic'] = (source, dir, name, expectedSize) => {
        if (stopped || typeof source !== 'string') return session.uploadAtomic(source, dir, name, expectedSize);
        stopped = true;
        const bytes = readFileSync(source);
        const half = new Readable({ read: () => undefined });
        half.push(bytes.subarray(0, Math.floor(bytes.length / 2))); // and nothing more: the upload waits for the rest
        void session.uploadAtomic(half, dir, name, expectedSize);
        return pauseHere('uploading');
      };
      return { ...session, uploadAtomic };
    },
  };
}

const spec: ChildSpec = JSON.parse(process.env.BX_SEND_CHILD!);
const db = openDatabase(spec.config);
const sftp = makeSftpTransport(spec.config.sftp, { log: silentLogger });
const job = makeSendJob({
  db, config: spec.config, cipher: new PanCipher(Buffer.from(spec.panKey, 'base64')), log: silentLogger,
  transport: spec.pauseAt === 'uploading' ? stoppingMidUpload(sftp) : sftp,
  faults: { at: (point) => (point === spec.pauseAt ? pauseHere(point) : undefined) },
});
await job.run({ businessDate: spec.businessDate });
await db.destroy();
process.stdout.write('finished without reaching its pause point\n');
