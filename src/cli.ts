import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { Command, CommanderError, Option } from 'commander';
import { PROJECT_ROOT } from './config/load.js';
import { ConfigError, UsageError, messageOf } from './errors.js';
import { LOG_LEVELS, scrub } from './log.js';

/** Exit codes, for systemd and cron: documented in the README. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, PARTIAL: 3 } as const;

/** A command module in src/cli/: it adds its commands to the program. */
export interface CommandModule {
  register(program: Command): void;
  /** position in --help (lower first) */
  order?: number;
}

export async function buildProgram(): Promise<Command> {
  const program = new Command('bureau-exchange')
    .description('Exchange personalization files and reports with a card personalization bureau')
    .option('-c, --config <file>', 'config file (default: $BX_CONFIG, else config/default.yaml)')
    .option('--pretty', 'human-readable log lines (default when stderr is a terminal; logs go to stderr)')
    .addOption(new Option('--log-level <level>', 'log level (default: log.level of the config)').choices(LOG_LEVELS))
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .showHelpAfterError()
    .exitOverride();
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'cli');
  const modules: CommandModule[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (/\.(ts|js)$/.test(file) && !file.endsWith('.d.ts') && !file.endsWith('.map')) {
      const module = await import(pathToFileURL(join(dir, file)).href);
      if (typeof module.register === 'function') modules.push(module);
    }
  }
  modules.sort((a, b) => (a.order ?? 50) - (b.order ?? 50)).forEach((m) => m.register(program));
  return program;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * A reader that stops early (`status | head`) closes stdout: the command has nothing more to say,
 * so it ends quietly with 0, as Unix tools do, instead of dying on an unhandled EPIPE.
 */
function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EXIT.OK);
  });
}

/**
 * stdout carries a command's result alone (`run-once --json > out.json`); our code writes it with
 * process.stdout.write and logs to stderr. A library printing with console goes to stderr, scrubbed:
 * knex writes "Acquire connection error: <stack>" with console.log whenever the database is down,
 * and a --json document then began with a stack trace.
 */
function consoleToStderr(): void {
  const toStderr = (...args: unknown[]) => {
    process.stderr.write(scrub(format(...args)) + '\n');
  };
  console.log = console.info = console.debug = console.warn = console.error = toStderr;
}

/** Runs the CLI: one clear line on error (never a stack trace for expected errors), and an exit code. */
export async function main(argv: string[]): Promise<number> {
  endQuietlyWhenStdoutCloses();
  consoleToStderr();
  const program = await buildProgram();
  try {
    await program.parseAsync(argv);
    return process.exitCode === undefined ? EXIT.OK : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    const usage = err instanceof ConfigError || err instanceof UsageError;
    process.stderr.write(scrub(`bureau-exchange: ${usage ? '' : 'error: '}${describe(err)}`) + '\n');
    if (!usage && process.env.BX_DEBUG && err instanceof Error) process.stderr.write(scrub(err.stack ?? '') + '\n');
    return usage ? EXIT.USAGE : EXIT.FAILURE;
  }
}

/**
 * knex's words for a connection it could not get in time ("The pool is probably full. Are you
 * missing a .transacting(trx) call?") send an operator looking for a bug when the database did not
 * answer (down, unreachable, or a server that takes the connection and says nothing).
 */
function describe(err: unknown): string {
  if (err instanceof Error && err.name === 'KnexTimeoutError') {
    return `no database connection in time: the database did not answer (is it up and reachable?) or every connection was busy (${err.message})`;
  }
  return messageOf(err);
}

/** How long a command that has finished may wait for what it left open to close, before the process exits. */
const EXIT_GRACE_MS = 5_000;

/**
 * Whether this process was started to run the CLI: bin/bureau-exchange.js (also through npm's
 * node_modules/.bin link) or this file itself. Not a program that imports it: a test, or mocha, whose
 * own script is lib/cli/cli.js and so matched the file-name test this replaces.
 */
function startedAsCli(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  let path: string;
  try {
    path = realpathSync(script);
  } catch {
    return false;
  }
  return path === realpathSync(fileURLToPath(import.meta.url)) || path === realpathSync(join(PROJECT_ROOT, 'bin', 'bureau-exchange.js'));
}

if (startedAsCli()) {
  process.exitCode = await main(process.argv);
  // The command is over, its result and error written. A handle still open must not keep the process
  // for ever: pg's attempt to connect to a server that took the TCP connection and never answered has
  // no time limit, so `status` printed knex's timeout and then hung (a cron job piling up). Unref'd:
  // an ordinary exit is not delayed.
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
}
