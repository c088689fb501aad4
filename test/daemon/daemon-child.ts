/**
 * The daemon service in a child process, as `bureau-exchange daemon -c <config>` runs it, with one
 * test seam: BX_TEST_PAUSE_AT=<send fault point> makes the first send run stop there for
 * BX_TEST_PAUSE_MS (logging "test pause"), so the parent can signal or kill it mid-batch; with
 * BX_TEST_PAUSE_UNTIL_SIGNAL=1 the pause ends at the first SIGTERM.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { openApp } from '../../src/app.js';
import { prepareDaemon, runDaemonService } from '../../src/daemon/service.js';
import { makeReceiveJob } from '../../src/inbound/receive-job.js';
import { makeSendJob, type SendFaultPoint } from '../../src/outbound/send-job.js';
import { makeSftpTransport } from '../../src/transport/sftp.js';

const app = await openApp({ config: process.argv[2], logLevel: 'info', pretty: false });
await prepareDaemon(app);
const { config, db, cipher, log } = app;
const pauseAt = process.env.BX_TEST_PAUSE_AT as SendFaultPoint | undefined;
const pauseMs = Number(process.env.BX_TEST_PAUSE_MS ?? 0);
let paused = false;

process.exitCode = await runDaemonService(app, {
  makeJobs: (signal) => {
    const transport = makeSftpTransport(config.sftp, { log, signal });
    return {
      send: makeSendJob({
        db, config, cipher, transport, log,
        faults: {
          async at(point) {
            if (point !== pauseAt || paused) return;
            paused = true;
            log.info({ point }, 'test pause');
            // BX_TEST_PAUSE_UNTIL_SIGNAL: the pause ends early at the first SIGTERM, so the parent
            // signals while the batch is surely mid-way, without racing a fixed pause
            const signalled = new Promise<void>((resolve) => {
              if (process.env.BX_TEST_PAUSE_UNTIL_SIGNAL) process.once('SIGTERM', () => resolve());
            });
            await Promise.race([sleep(pauseMs, undefined, { ref: false }), signalled]);
          },
        },
      }),
      receive: makeReceiveJob({ db, config, transport, log }),
    };
  },
});
