import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { bureauView } from '../config/bureau-view.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { Clock } from '../jobs.js';
import type { Logger } from '../log.js';
import { makeBureauSimulator, type AnsweredFile, type BureauSimulator } from './bureau.js';
import { sandboxBureauPaths, sandboxPaths, type SandboxBureauPaths } from './init.js';
import { SANDBOX_KEY_FILES } from './keys.js';
import { loadBureauSettings, type BureauSettings } from './settings.js';
import { startSftpServer, type RunningSftpServer } from './sftp-server.js';

/** One bureau the sandbox plays: its view of the config (bureauView), its folders and keys, its SFTP server and simulator. */
export interface SandboxBureau {
  code: string;
  /** the config as this bureau's send reads it: its layout, keys, SFTP account */
  config: Config;
  paths: SandboxBureauPaths;
  /** the local folder its SFTP account serves as "/": paths.sftpRoot, or another server's (options.servers) */
  sftpRoot: string;
  /** absent when the bureau answers on another server's folder (options.servers) */
  server?: RunningSftpServer;
  simulator: BureauSimulator;
}

export interface RunningSandbox {
  /** the first bureau's SFTP server */
  server: RunningSftpServer;
  /** the first bureau's simulator */
  simulator: BureauSimulator;
  /** every bureau of the config, in config order */
  bureaus: SandboxBureau[];
  settings: BureauSettings;
  /** every bureau answers its new files, in config order */
  answerNewFiles(): Promise<AnsweredFile[]>;
  close(): Promise<void>;
}

export interface SandboxOptions {
  log: Logger;
  seed?: number;
  /** over bureau.yaml: e.g. { rejectRate: 0.5 } */
  settings?: Partial<BureauSettings>;
  clock?: Clock;
  onAnswer?: (answered: AnsweredFile) => void;
  /** false: no polling, the caller calls answerNewFiles() */
  poll?: boolean;
  /** keep every decision in the answers (memory grows with the files) */
  keepDecisions?: boolean;
  /**
   * Bureaus served by another SFTP server (the tests use OpenSSH), by code: the local folder that
   * server serves as "/", where the bureau answers instead of on its own server.
   */
  servers?: Record<string, { root: string }>;
}

/**
 * Starts the sandbox of a config made by `sandbox init`: for each bureau of the config, its SFTP
 * server on its configured port, serving its own folder with its own host key, and its simulator
 * polling its inbound folder, reading files with its layout and answering with its keys.
 */
export async function startSandbox(config: LoadedConfig, options: SandboxOptions): Promise<RunningSandbox> {
  const paths = sandboxPaths(dirname(config.configFile));
  const settings = loadBureauSettings(paths.settingsFile, { ...options.settings, ...(options.seed === undefined ? {} : { seed: options.seed }) });
  const bureaus: SandboxBureau[] = [];
  const close = async () => {
    for (const b of bureaus) {
      await b.simulator.stop();
      await b.server?.close();
    }
  };
  try {
    for (const [index, { code }] of config.bureaus.entries()) {
      const view = bureauView(config, code).config;
      const where = sandboxBureauPaths(paths.dir, code, index);
      const elsewhere = options.servers?.[code];
      const server = elsewhere ? undefined : await startBureauServer(view, where, index, paths.keysDir, options.log);
      const sftpRoot = elsewhere?.root ?? where.sftpRoot;
      const simulator = makeBureauSimulator({
        config: view, sftpRoot, keysDir: where.keysDir, issuerKeysDir: paths.keysDir, stateFile: where.stateFile,
        settings, log: options.log, clock: options.clock, keepDecisions: options.keepDecisions,
      });
      bureaus.push({ code, config: view, paths: where, sftpRoot, server, simulator });
    }
  } catch (err) {
    await close();
    throw err;
  }
  if (options.poll !== false) for (const b of bureaus) b.simulator.start(options.onAnswer);
  return {
    server: bureaus[0]!.server!, simulator: bureaus[0]!.simulator, bureaus, settings, close,
    answerNewFiles: async () => {
      const answers: AnsweredFile[] = [];
      for (const b of bureaus) answers.push(...(await b.simulator.answerNewFiles()));
      return answers;
    },
  };
}

/** One bureau's SFTP server: on loopback at its configured port, its own root and host key, our client key. */
async function startBureauServer(view: Config, where: SandboxBureauPaths, index: number, ourKeysDir: string, log: Logger): Promise<RunningSftpServer> {
  // the key as written in the config: the first bureau's at the top level (one-bureau form) or in the list
  const at = (key: string) => (index === 0 && view.bureaus.length === 1 ? key : `bureaus[${index}].${key}`);
  if (view.sftp.host !== '127.0.0.1' && view.sftp.host !== 'localhost') {
    throw new ConfigError(`${at('sftp.host')} is ${view.sftp.host}: the sandbox serves on loopback only (127.0.0.1)`);
  }
  const hostKey = join(where.keysDir, SANDBOX_KEY_FILES.sftpHostPrivate);
  if (!existsSync(hostKey)) throw new ConfigError(`${hostKey} is missing: bureau ${where.code} was not made by \`sandbox init\` (--bureaus 2 makes EMB01)`);
  const server = await startSftpServer({
    root: where.sftpRoot,
    hostKey: readFileSync(hostKey),
    authorizedKeys: [readFileSync(join(ourKeysDir, SANDBOX_KEY_FILES.sftpClientPublic))],
    username: view.sftp.username,
    host: '127.0.0.1',
    port: view.sftp.port,
    log,
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EADDRINUSE') throw err;
    throw new ConfigError(`127.0.0.1:${view.sftp.port} (${at('sftp.port')}) is in use: is this sandbox already being served?`);
  });
  if (view.sftp.hostKeySha256 && view.sftp.hostKeySha256 !== server.hostKeySha256) {
    await server.close();
    throw new ConfigError(`${at('sftp.hostKeySha256')} ${view.sftp.hostKeySha256} is not the sandbox host key (${server.hostKeySha256})`);
  }
  return server;
}
