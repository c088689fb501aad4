/**
 * The daemon service in a child process whose receive job leaves a bug behind it: a callback that
 * throws out of a timer (BX_TEST_CRASH=throw) or a promise nobody awaits that rejects
 * (BX_TEST_CRASH=reject), with a card number in the message. The parent checks how the process ends.
 */
import { openApp } from '../../src/app.js';
import { runDaemonService } from '../../src/daemon/service.js';
import { emptyReceive, recordingSendJob } from './fakes.js';

const app = await openApp({ config: process.argv[2], logLevel: 'info', pretty: false }, { migrate: true });
const crash = process.env.BX_TEST_CRASH;
const message = 'a bug that names card 4111111111111111';

process.exitCode = await runDaemonService(app, {
  makeJobs: () => ({
    send: recordingSendJob(),
    receive: {
      async run() {
        if (crash === 'throw') setTimeout(() => { throw new Error(message); }, 10);
        else void Promise.reject(new Error(message));
        return emptyReceive();
      },
    },
  }),
});
