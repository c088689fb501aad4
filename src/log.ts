import { fstatSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { maskPansInText } from './security/mask.js';

export type { Logger } from 'pino';

const PRIVATE_KEY_BLOCK = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----/g;
const secrets = new Set<string>();

/**
 * Remember a secret value (a key, a passphrase) so that it is cut from every log line: as it is, and
 * as a JSON line writes it (a `"`, a `\\` or a control character in it escaped).
 */
export function registerSecret(value: string): void {
  if (value.length < 6) return;
  // the escaped form first: the value itself may stand inside it (`"abc` in `\\"abc`), and cut
  // there first it would leave a lone backslash, breaking the JSON line
  secrets.add(JSON.stringify(value).slice(1, -1));
  secrets.add(value);
}

/** The last line of defence: masks PANs, drops private key blocks and known secret values. */
export function scrub(line: string): string {
  let out = maskPansInText(line).replace(PRIVATE_KEY_BLOCK, '[REDACTED PRIVATE KEY]');
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
  return out;
}

const SENSITIVE_KEYS = ['pan', 'password', 'passphrase', 'privateKey', 'secret', 'key', 'dataKey', 'panKey'];
const REDACT_PATHS = SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

/** The levels a logger accepts (--log-level, log.level), most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export interface LoggerOptions {
  level?: string;
  pretty?: boolean;
  /** where lines go (default: stderr, so that stdout carries only a command's output); tests pass a collecting stream */
  destination?: NodeJS.WritableStream;
}

/**
 * A pino logger whose every line passes through `scrub` before it is written. Levels are written as
 * labels ("level":"warn"), so journald and log shippers can map them to priorities by name.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const target = options.destination ?? pino.destination({ dest: 2, sync: true });
  const sink = options.pretty ? pinoPretty({ destination: target, sync: true, translateTime: 'SYS:standard' }) : target;
  const prefix = !options.destination && !options.pretty && stderrIsJournal() ? journalPriorityPrefix : (line: string) => line;
  const scrubbing = new Writable({
    write(chunk, _encoding, done) {
      sink.write(prefix(scrub(chunk.toString())));
      done();
    },
  });
  return pino(
    {
      level: options.level ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      serializers: { err: pino.stdSerializers.err },
      base: { pid: process.pid },
    },
    scrubbing,
  );
}

/** journald priorities (syslog levels) of the log levels. */
const JOURNAL_PRIORITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

/**
 * systemd connects stderr to the journal and names that stream in JOURNAL_STREAM (device:inode).
 * There, a line starting with "<N>" is stored at priority N (SyslogLevelPrefix=, on by default),
 * and the prefix is removed: `journalctl -p err` then finds the errors.
 */
function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!env.JOURNAL_STREAM) return false;
  try {
    const { dev, ino } = fstatSync(2);
    return env.JOURNAL_STREAM === `${dev}:${ino}`;
  } catch {
    return false;
  }
}

function journalPriorityPrefix(line: string): string {
  const level = /^\{"level":"(\w+)"/.exec(line)?.[1];
  return level && JOURNAL_PRIORITY[level] !== undefined ? `<${JOURNAL_PRIORITY[level]}>${line}` : line;
}

/** A logger that writes nothing, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
