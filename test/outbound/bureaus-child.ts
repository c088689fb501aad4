/**
 * The sends of every configured bureau at once in one process, as the daemon runs them (one lane per
 * bureau), for the crash tests: each bureau's job stops at its point named in BX_BUREAUS_CHILD, tells
 * the parent (IPC) and waits there to be killed with SIGKILL.
 */
import type { LoadedConfig } from '../../src/config/load.js';
import { openDatabase } from '../../src/db/connection.js';
import { silentLogger } from '../../src/log.js';
import { bureauConfig } from '../../src/outbound/bureau-config.js';
import { makeSendJob } from '../../src/outbound/send-job.js';
import { PanCipher } from '../../src/security/pan.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { pauseHere } from '../helpers/crash-child.js';
import { stoppingMidUpload } from './mid-upload.js';
import type { SendPausePoint } from './send-child.js';

export interface BureausChildSpec {
  config: LoadedConfig;
  panKey: string;
  /** where each bureau's send stops, by bureau code */
  pauseAt: Record<string, SendPausePoint>;
  businessDate: string;
}

const spec: BureausChildSpec = JSON.parse(process.env.BX_BUREAUS_CHILD!);
const db = openDatabase(spec.config);
const cipher = new PanCipher(Buffer.from(spec.panKey, 'base64'));
await Promise.all(spec.config.bureaus.map(({ code }) => {
  const bureau = bureauConfig(spec.config, code);
  const at = spec.pauseAt[code];
  const sftp = makeSftpTransport(bureau.config.sftp, { log: silentLogger });
  return makeSendJob({
    db, config: spec.config, bureau, cipher, log: silentLogger,
    transport: at === 'uploading' ? stoppingMidUpload(sftp) : sftp,
    faults: { at: (point) => (point === at ? pauseHere(point) : undefined) },
  }).run({ businessDate: spec.businessDate });
}));
await db.destroy();
process.stdout.write('finished without reaching its pause points\n');
