/** Typed errors the code acts on. The CLI maps them to one clear line and an exit code. */

/**
 * The base of the errors the code acts on: a message and, optionally, the error it wraps. Each
 * subclass names itself (`name` survives a trip through another thread: fromWireError).
 */
export abstract class AppError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A configuration value is missing or wrong: exit code 2, never retried. */
export class ConfigError extends AppError {
  override name = 'ConfigError';
}

/** Bad command-line usage: exit code 2. */
export class UsageError extends AppError {
  override name = 'UsageError';
}

/** An input (file, record, field) that cannot be accepted; says where. */
export class InputError extends AppError {
  override name = 'InputError';
  constructor(
    message: string,
    readonly location: { file?: string; record?: number | string; field?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(formatLocation(location) + message, options);
  }
}

/** Retrying will not help (wrong key, refused host key, remote folder read-only…). */
export class PermanentError extends AppError {
  override name = 'PermanentError';
}

/** A run or a step took longer than its configured time limit and was stopped; the message names the limit. */
export class TimeLimitError extends Error {
  override name = 'TimeLimitError';
}

/** A network or server hiccup worth retrying with backoff. */
export class TransientError extends AppError {
  override name = 'TransientError';
}

function formatLocation(loc: { file?: string; record?: number | string; field?: string }): string {
  const parts: string[] = [];
  if (loc.file) parts.push(loc.file);
  if (loc.record !== undefined) parts.push(`record ${loc.record}`);
  if (loc.field) parts.push(`field ${loc.field}`);
  return parts.length ? parts.join(', ') + ': ' : '';
}

/**
 * An error of the operating system (file system, network): an errno `code` like ENOSPC and the
 * failing `syscall`. Whatever input was being read, such an error is a local fault, not the input's.
 */
export function isSystemError(err: unknown): boolean {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  return typeof e?.code === 'string' && typeof e.syscall === 'string';
}

/** The message of any thrown value, without its stack. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** An error as it crosses to another thread: its class (by name) and message, never its stack. */
export interface WireError {
  name: string;
  message: string;
}

export function toWireError(err: unknown): WireError {
  return { name: err instanceof Error ? err.name : 'Error', message: messageOf(err) };
}

/** The error of `toWireError` again, of the same class where the code acts on the class. */
export function fromWireError(wire: WireError): Error {
  const classes: Record<string, new (message: string) => Error> = { ConfigError, PermanentError, TransientError };
  const Class = classes[wire.name] ?? Error;
  return new Class(wire.message);
}
