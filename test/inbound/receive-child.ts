/**
 * A receive run in its own process, for the kill tests: BX_CHILD_CONFIG holds the config (JSON),
 * BX_KILL_AT names the step at which the process SIGKILLs itself (after-download, during-apply,
 * before-move).
 */
import type { Config } from '../../src/config/schema.js';
import { openDatabase } from '../../src/db/connection.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { silentLogger } from '../../src/log.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';

const config = JSON.parse(process.env.BX_CHILD_CONFIG!) as Config;
const killAt = process.env.BX_KILL_AT;
const dieAt = (step: string) => () => {
  if (step === killAt) process.kill(process.pid, 'SIGKILL');
};
const db = openDatabase(config);
const job = makeReceiveJob({
  db, config, log: silentLogger, transport: makeSftpTransport(config.sftp, { log: silentLogger }),
  hooks: { afterDownload: dieAt('after-download'), afterApplyGroup: dieAt('during-apply'), beforeRemoteMove: dieAt('before-move') },
});
await job.run();
await db.destroy();
