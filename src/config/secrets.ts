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

/** A 32-byte AES key given in base64 in the environment variable `name`. */
export function dataKeyFromEnv(name: string, env: NodeJS.ProcessEnv = process.env, required = true): Buffer | undefined {
  const value = secretFromEnv(name, env);
  if (!value) {
    if (!required) return undefined;
    throw new ConfigError(`environment variable ${name} is not set: it must hold the 32-byte PAN data key in base64 (generate one with: openssl rand -base64 32)`);
  }
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32 || key.toString('base64') !== value.replace(/\s/g, '')) {
    // systemd's EnvironmentFile= and docker's --env-file keep a trailing "# comment" in the value
    const hint = /[\s#]/.test(value.trim()) ? ' (the value holds a space or "#": put a comment on a line of its own)' : '';
    throw new ConfigError(`environment variable ${name} must be exactly 32 bytes in base64 (44 characters); it decodes to ${key.length} bytes${hint}`);
  }
  // the key as it is read (spaces inside a value are allowed): the form a line would quote it in
  registerSecret(key.toString('base64'));
  return key;
}
