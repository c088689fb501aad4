/**
 * A send run in its own process, killed with SIGKILL (kill -9: no cleanup, no finally) when it
 * reaches the fault point given in BX_SEND_CHILD. Used by the crash tests.
 */
import type { Config } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/connection.js';
import { silentLogger } from '../../src/log.js';
import { makeSendJob, type SendFaultPoint } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';

export interface ChildSpec {
  config: Config;
  panKey: string;
  killAt: SendFaultPoint;
  businessDate: string;
}

const spec: ChildSpec = JSON.parse(process.env.BX_SEND_CHILD!);
const db = openDatabase(spec.config);
const job = makeSendJob({
  db, config: spec.config, cipher: new PanCipher(Buffer.from(spec.panKey, 'base64')), log: silentLogger,
  transport: makeSftpTransport(spec.config.sftp, { log: silentLogger }),
  faults: { at: (point) => { if (point === spec.killAt) process.kill(process.pid, 'SIGKILL'); } },
});
await job.run({ businessDate: spec.businessDate });
await db.destroy();
process.stdout.write('finished without being killed\n');
