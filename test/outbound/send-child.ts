/**
 * A send run in its own process for the crash tests: it stops at the point named in BX_SEND_CHILD
 * (a send fault point, or 'uploading': half of the file written to `<name>.part` on the server),
 * tells the parent (IPC) and waits there to be killed with SIGKILL.
 */
import type { Config } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/connection.js';
import { silentLogger } from '../../src/log.js';
import { makeSendJob, type SendFaultPoint } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { pauseHere } from '../helpers/crash-child.js';
import { stoppingMidUpload } from './mid-upload.js';

export type SendPausePoint = SendFaultPoint | 'uploading';

export interface ChildSpec {
  config: Config;
  panKey: string;
  /** none: the send runs to its end (or to its kill), having told the parent `{ started: true }` */
  pauseAt?: SendPausePoint;
  businessDate: string;
}

const spec: ChildSpec = JSON.parse(process.env.BX_SEND_CHILD!);
const db = openDatabase(spec.config);
const sftp = makeSftpTransport(spec.config.sftp, { log: silentLogger });
const job = makeSendJob({
  db, config: spec.config, cipher: new PanCipher(Buffer.from(spec.panKey, 'base64')), log: silentLogger,
  transport: spec.pauseAt === 'uploading' ? stoppingMidUpload(sftp) : sftp,
  faults: { at: (point) => (point === spec.pauseAt ? pauseHere(point) : undefined) },
});
if (!spec.pauseAt) process.send?.({ started: true });
await job.run({ businessDate: spec.businessDate });
await db.destroy();
process.stdout.write('finished without reaching its pause point\n');
