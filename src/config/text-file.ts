import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError, messageOf } from '../errors.js';

// The files an operator writes (the config, its .env, perso layouts) are read here, one way.

/** A config, .env or layout is a few kilobytes: more is a wrong file (a database, a dump), never read whole. */
const MAX_TEXT_BYTES = 1024 * 1024;

/**
 * The text of a config, .env or layout file, refused (naming `what`, never quoting its content: a .env holds
 * secrets) when it cannot be read, is larger than MAX_TEXT_BYTES (/dev/zero, a dump) or is not UTF-8:
 * decoding replaced bad bytes with U+FFFD, and a host name or key path then failed only when used.
 */
export function readTextFile(file: string, what: string, check?: (stats: Stats, what: string) => void): string {
  let bytes: Buffer;
  try {
    bytes = readAtMost(file, MAX_TEXT_BYTES + 1, (stats) => check?.(stats, what));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${what} cannot be read: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
  if (bytes.length > MAX_TEXT_BYTES) throw new ConfigError(`${what} is larger than ${MAX_TEXT_BYTES / 1024 / 1024} MiB: not a configuration file`);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ConfigError(`${what} is not UTF-8 text: line ${firstLineNotUtf8(bytes, utf8)}`);
  }
}

function readAtMost(file: string, limit: number, check: (stats: Stats) => void): Buffer {
  const fd = openSync(file, 'r');
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) throw Object.assign(new Error('a folder'), { code: 'EISDIR' });
    check(stats);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, limit - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total >= limit) break;
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/** No UTF-8 sequence holds a newline byte: the lines can be decoded one by one. */
function firstLineNotUtf8(bytes: Buffer, utf8: TextDecoder): number {
  let line = 1;
  for (let start = 0, i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x0a) continue;
    try {
      utf8.decode(bytes.subarray(start, i));
    } catch {
      return line;
    }
    line++;
    start = i + 1;
  }
  return line;
}

/**
 * The YAML document, read with the YAML 1.2 core schema even under a `%YAML 1.1` directive (which
 * made `022` the number 18, `yes` true, `17:00` the number 1020, dates Date objects, and `<<` a
 * merge): yes/no, times and dates stay text, and a wrong type is refused by the schema. A warning is
 * an error too: an unknown tag (`!!js/function`) was read as plain text, with a warning on stderr
 * outside the logs. Aliases are capped by the parser (no "billion laughs").
 */
export function parseYamlText(what: string, text: string): unknown {
  const invalid = (message: string) => new ConfigError(`${what} is not valid YAML: ${message.split('\n')[0]}`);
  try {
    const doc = parseDocument(text, { schema: 'core' });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw invalid(problem.message);
    return doc.toJS();
  } catch (err) {
    throw err instanceof ConfigError ? err : invalid(messageOf(err));
  }
}

