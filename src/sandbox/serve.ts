import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import type { Clock } from '../jobs.js';
import type { Logger } from '../log.js';
import { makeBureauSimulator, type AnsweredFile, type BureauSimulator } from './bureau.js';
import { BUREAU_STATE_FILE } from './bureau-state.js';
import { sandboxPaths } from './init.js';
import { SANDBOX_KEY_FILES } from './keys.js';
import { loadBureauSettings, type BureauSettings } from './settings.js';
import { startSftpServer, type RunningSftpServer } from './sftp-server.js';

export interface RunningSandbox {
  server: RunningSftpServer;
  simulator: BureauSimulator;
  settings: BureauSettings;
  close(): Promise<void>;
}

/**
 * Starts the sandbox of a config made by `sandbox init`: the SFTP server on the configured port,
 * serving DIR/sftp with the sandbox host key, and the bureau simulator polling its inbound folder.
 */
export async function startSandbox(
  config: LoadedConfig,
  options: {
    log: Logger;
    seed?: number;
    /** over bureau.yaml: e.g. { rejectRate: 0.5 } */
    settings?: Partial<BureauSettings>;
    clock?: Clock;
    onAnswer?: (answered: AnsweredFile) => void;
    /** false: no polling, the caller calls simulator.answerNewFiles() */
    poll?: boolean;
    /** keep every decision in the answers (memory grows with the files) */
    keepDecisions?: boolean;
  },
): Promise<RunningSandbox> {
  const paths = sandboxPaths(dirname(config.configFile));
  if (config.sftp.host !== '127.0.0.1' && config.sftp.host !== 'localhost') {
    throw new ConfigError(`sftp.host is ${config.sftp.host}: the sandbox serves on loopback only (127.0.0.1)`);
  }
  const settings = loadBureauSettings(paths.settingsFile, { ...options.settings, ...(options.seed === undefined ? {} : { seed: options.seed }) });
  const server = await startSftpServer({
    root: paths.sftpRoot,
    hostKey: readFileSync(join(paths.keysDir, SANDBOX_KEY_FILES.sftpHostPrivate)),
    authorizedKeys: [readFileSync(join(paths.keysDir, SANDBOX_KEY_FILES.sftpClientPublic))],
    username: config.sftp.username,
    host: '127.0.0.1',
    port: config.sftp.port,
    log: options.log,
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    throw new ConfigError(`127.0.0.1:${config.sftp.port} (sftp.port) is in use: is this sandbox already being served?`);
  });
  if (config.sftp.hostKeySha256 && config.sftp.hostKeySha256 !== server.hostKeySha256) {
    await server.close();
    throw new ConfigError(`sftp.hostKeySha256 ${config.sftp.hostKeySha256} is not the sandbox host key (${server.hostKeySha256})`);
  }
  const simulator = makeBureauSimulator({
    config, sftpRoot: paths.sftpRoot, keysDir: paths.keysDir, stateFile: join(paths.dir, BUREAU_STATE_FILE),
    settings, log: options.log, clock: options.clock, keepDecisions: options.keepDecisions,
  });
  if (options.poll !== false) simulator.start(options.onAnswer);
  return {
    server, simulator, settings,
    close: async () => {
      await simulator.stop();
      await server.close();
    },
  };
}
