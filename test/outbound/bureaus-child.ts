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
const codes = spec.config.bureaus.map((b) => b.code);
const paused = new Map(codes.map((code) => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return [code, { promise, resolve }] as const;
}));
await Promise.all(codes.map((code) => {
  const bureau = bureauConfig(spec.config, code);
  const at = spec.pauseAt[code];
  const sftp = makeSftpTransport(bureau.config.sftp, { log: silentLogger });
  return makeSendJob({
    db, config: spec.config, bureau, cipher, log: silentLogger,
    transport: at === 'uploading' ? stoppingMidUpload(sftp) : sftp,
    faults: { at: (point) => faultAt(code, at, point) },
  }).run({ businessDate: spec.businessDate });
}));
await db.destroy();
process.stdout.write('finished without reaching its pause points\n');

/**
 * Each bureau stops at its point. On SQLite a confirm held open at 'confirming' keeps the one
 * connection: a bureau stopping there waits first, before its confirm begins, until every other
 * bureau has stopped (their last writes would otherwise wait for the connection for ever).
 */
async function faultAt(code: string, at: SendPausePoint | undefined, point: string): Promise<void> {
  if (at === 'confirming' && point === 'uploaded' && spec.config.database.client === 'sqlite') {
    await Promise.all(codes.filter((other) => other !== code).map((other) => paused.get(other)!.promise));
  }
  if (point !== at) return;
  paused.get(code)!.resolve();
  await pauseHere(point);
}
