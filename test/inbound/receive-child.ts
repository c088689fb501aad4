/**
 * A receive run in its own process for the crash tests: BX_CHILD_CONFIG holds the config (JSON),
 * BX_PAUSE_AT the step where it stops, tells the parent (IPC) and waits to be killed with SIGKILL:
 * after-download, after-decrypt, during-apply (inside the transaction, after the first group of
 * records), before-move (applied and committed, the remote file not yet moved) or after-remote-move (moved,
 * its remote_state not yet recorded). Without BX_PAUSE_AT
 * it runs to its end (the random-kill spec kills it at a time of its choosing, timed from `started`).
 */
import type { Config } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/connection.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { silentLogger } from '../../src/log.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';
import { pauseHere } from '../helpers/crash-child.js';

export type ReceivePausePoint = 'after-download' | 'after-decrypt' | 'during-apply' | 'before-move' | 'after-remote-move';

const config = JSON.parse(process.env.BX_CHILD_CONFIG!) as Config;
const pauseAt = process.env.BX_PAUSE_AT as ReceivePausePoint;
const at = (point: ReceivePausePoint) => () => (point === pauseAt ? pauseHere(point) : undefined);
const db = openDatabase(config);
const job = makeReceiveJob({
  db, config, log: silentLogger, transport: makeSftpTransport(config.sftp, { log: silentLogger }),
  hooks: { afterDownload: at('after-download'), afterDecrypt: at('after-decrypt'), afterApplyGroup: at('during-apply'), beforeRemoteMove: at('before-move'), afterRemoteMove: at('after-remote-move') },
});
// the random-kill spec times its kill from here (the start of tsx and of the database is not the receive's)
if (!pauseAt) process.send?.({ started: true });
await job.run();
await db.destroy();
process.stdout.write('finished without reaching its pause point\n');
