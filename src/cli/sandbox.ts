import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { makeLogger, type GlobalOptions } from '../app.js';
import { loadConfig } from '../config/load.js';
import { UsageError } from '../errors.js';
import { sandboxEnv, SEED_PATTERN, SEED_USAGE } from '../sandbox/demo.js';
import { initSandbox } from '../sandbox/init.js';
import { startSandbox } from '../sandbox/serve.js';
import { shellWord } from '../security/shown-text.js';

export const order = 80;

export function register(program: Command): void {
  const sandbox = program.command('sandbox').description('a local test bureau: SFTP server and bureau simulator (TEST ONLY)');

  sandbox
    .command('init <dir>')
    .description('create a self-contained sandbox in DIR: config.yaml, .env with a PAN key, fresh test keys, sftp/ folders')
    .option('--bureaus <n>', 'how many bureaus: 1, or 2 (a second bureau EMB01 with layout emb-v1, its own SFTP server and keys; premium cards routed to it)', '1')
    .action(async (dir: string, opts: { bureaus: string }) => {
      if (opts.bureaus !== '1' && opts.bureaus !== '2') throw new UsageError('--bureaus must be 1 or 2');
      const result = await initSandbox(dir, { bureaus: Number(opts.bureaus) });
      const show = (p: string) => {
        const rel = relative(process.cwd(), p);
        return rel.startsWith('..') || isAbsolute(rel) ? p : rel || '.';
      };
      const cfg = shellWord(show(result.configFile));
      // an exported BX_DATABASE_URL or BX_PAN_KEY wins over the sandbox's config: these commands would
      // import into, and send the Marked cards of, that database
      const { setAside } = sandboxEnv(process.env);
      const npx = `${setAside.length ? `env ${setAside.map((name) => `-u ${name}`).join(' ')} ` : ''}npx bureau-exchange`;
      process.stdout.write([
        `Sandbox created in ${result.dir} (TEST ONLY keys in ${show(result.keysDir)}/)`,
        `  config      ${show(result.configFile)}`,
        ...result.bureaus.flatMap((b) => [
          `  bureau      ${b.code}: SFTP on 127.0.0.1:${b.port} (host key ${b.pins.hostKeySha256}), root ${show(b.sftpRoot)}/`,
          `              OpenPGP key ${b.pins.bureauFingerprint}, keys in ${show(b.keysDir)}/`,
        ]),
        `  simulator   ${show(result.settingsFile)}`,
        '',
        'Next:',
        ...(setAside.length ? [`  (your environment sets ${setAside.join(', ')}: they would win over the sandbox's config, so these commands unset them)`] : []),
        `  ${npx} sandbox serve --config ${cfg}     # in one terminal`,
        `  ${npx} --config ${cfg} contracts import samples/contracts.jsonl`,
        `  ${npx} --config ${cfg} send --force`,
        `  ${npx} --config ${cfg} receive`,
        '',
      ].join('\n'));
    });

  sandbox
    .command('serve')
    .description('serve the sandbox SFTP folder and answer each new personalization file with a report, until stopped')
    .option('--seed <n>', 'seed of the simulated decisions (default: bureau.yaml)')
    .option('--reject-rate <share>', 'share of records rejected, 0–1 (default: bureau.yaml)')
    .option('--ship-rate <share>', 'share of accepted records already shipped, 0–1 (default: bureau.yaml)')
    .action(async (opts: { seed?: string; rejectRate?: string; shipRate?: string }, cmd: Command) => {
      const global = cmd.optsWithGlobals() as GlobalOptions;
      if (!global.config) throw new UsageError('sandbox serve needs --config DIR/config.yaml (made by `sandbox init DIR`)');
      if (opts.seed !== undefined && !SEED_PATTERN.test(opts.seed)) throw new UsageError(SEED_USAGE);
      const config = loadConfig(global.config);
      const log = makeLogger(config, global);
      const settings = { ...share('--reject-rate', 'rejectRate', opts.rejectRate), ...share('--ship-rate', 'shipRate', opts.shipRate) };
      const running = await startSandbox(config, { log, settings, ...(opts.seed === undefined ? {} : { seed: Number(opts.seed) }) });
      for (const b of running.bureaus) {
        log.info({ bureau: b.code, host: b.server?.host, port: b.server?.port, hostKey: b.server?.hostKeySha256, layout: b.config.perso.layout },
          'sandbox bureau serving');
      }
      log.info({ bureaus: running.bureaus.map((b) => b.code), seed: running.settings.seed }, 'sandbox bureau serving (Ctrl-C to stop)');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await running.close();
      log.info('sandbox bureau stopped');
    });
}

function share(flag: string, key: 'rejectRate' | 'shipRate', value: string | undefined): Partial<Record<typeof key, number>> {
  if (value === undefined) return {};
  const n = Number(value);
  if (!/^\d*\.?\d+$/.test(value) || n > 1) throw new UsageError(`${flag} must be a share between 0 and 1, e.g. 0.05`);
  return { [key]: n };
}
