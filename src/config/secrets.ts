import { ConfigError } from '../errors.js';
import { registerSecret } from '../log.js';

/**
 * Reads a secret from the environment; registers it so no log line can ever carry it. Trimmed too: a
 * secret made from a file often ends in a newline, and a line quoting it without one must lose it as well.
 */
export function secretFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  if (value) {
    registerSecret(value);
    registerSecret(value.trim());
  }
  return value || undefined;
}

/**
 * Refuses a file holding a secret whose mode opens it to others: `openTo` are the bits that may not
 * be set (group and others for a private key, as OpenSSH refuses an "UNPROTECTED PRIVATE KEY FILE").
 * Names the file and its mode, never what it holds.
 */
export function refuseOpenSecretFile(file: string, mode: number, what: string, { openTo = 0o077, hint = 'chmod 600 it' } = {}): void {
  if ((mode & openTo) === 0) return;
  const whom = openTo & 0o070 ? 'group/other' : 'every user of the machine';
  throw new ConfigError(`${what} ${file} is readable by ${whom} (mode ${(mode & 0o777).toString(8)}): ${hint}`);
}

/** A 32-byte AES key given in base64 in the environment variable `name`. */
export function dataKeyFromEnv(name: string, env: NodeJS.ProcessEnv = process.env, required = true): Buffer | undefined {
  const value = secretFromEnv(name, env);
  if (!value) {
    if (!required) return undefined;
    throw new ConfigError(`environment variable ${name} is not set: it must hold the 32-byte PAN data key in base64 (generate one with: openssl rand -base64 32)`);
  }
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32 || key.toString('base64') !== value.replace(/\s/g, '')) {
    throw new ConfigError(`environment variable ${name} must be exactly 32 bytes in base64 (44 characters); ${whatIsWrong(value.trim(), key.length)}`);
  }
  // the key as it is read (spaces inside a value are allowed): the form a line would quote it in
  registerSecret(key.toString('base64'));
  return key;
}

/**
 * Why a value is not a 32-byte key in base64, without quoting it. Node's base64 decoder skips what is
 * not base64 (quotes, "#") and reads the URL-safe alphabet and a missing "=": such values still decode
 * to 32 bytes, so the length alone would read "must be 32 bytes; it decodes to 32 bytes".
 */
function whatIsWrong(text: string, length: number): string {
  // docker's --env-file keeps quotes; systemd's EnvironmentFile= and docker keep a trailing "# comment"
  if (/^(["']).*\1$/s.test(text)) return 'it is in quotes: remove them (docker --env-file keeps them as part of the value)';
  if (/[\s#]/.test(text)) return `the value holds a space or "#"${length === 32 ? '' : ` and decodes to ${length} bytes`}: put a comment on a line of its own`;
  if (/^[0-9a-f]{64}$/i.test(text)) return 'it is 64 hex digits: give the same key in base64 (xxd -r -p <<< HEX | base64)';
  if (/[-_]/.test(text)) return 'it is in the URL-safe alphabet ("-" and "_"): write it with "+" and "/" instead';
  if (length === 32 && /^[A-Za-z0-9+/]{43}$/.test(text)) return 'its final "=" is missing';
  if (length === 32) return 'it is not plain base64: a character other than A-Z, a-z, 0-9, "+", "/" and the final "=", or a last character base64 never writes';
  return `it decodes to ${length} bytes`;
}
