import { AppError, PermanentError, TransientError, messageOf } from '../errors.js';
import { RemoteDeniedError } from './remote.js';
import { isTransientNetworkError } from './retry.js';

/** SFTP status codes (draft-ietf-secsh-filexfer-02, what OpenSSH speaks) and what they mean to us. */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;
const SFTP_FAILURE = 4;

/**
 * Turns an error of an SFTP operation into one we can act on: a dropped connection is transient
 * (the job retries later); permission denied, a missing folder, a full disk are permanent, with a
 * message that says which file on which server.
 */
export function remoteError(err: unknown, action: string, where: string): Error {
  // our own errors decide for themselves: a download's destination refusing the bytes (a signature
  // too large, an InputError) is about the file's content, not a fault of the server
  if (err instanceof AppError) return err;
  const code = (err as { code?: unknown }).code;
  const message = serverText(messageOf(err));
  if (code === SFTP_PERMISSION_DENIED || code === 'EACCES' || /permission denied/i.test(message)) {
    return new RemoteDeniedError(`${action} ${where}: permission denied`, { cause: err });
  }
  if (code === SFTP_NO_SUCH_FILE || code === 'ENOENT' || /no such file/i.test(message)) {
    return new PermanentError(`${action} ${where}: no such file or folder`, { cause: err });
  }
  if (/no space|quota|disk full/i.test(message)) {
    return new PermanentError(`${action} ${where}: the server's disk is full (or the quota exceeded)`, { cause: err });
  }
  if (isTransientNetworkError(err) || isConnectionGone(message)) {
    return new TransientError(`${action} ${where}: the connection was lost (${message})`, { cause: err });
  }
  if (code === SFTP_FAILURE) {
    // OpenSSH answers a bare "Failure" for ENOSPC, EEXIST on rename and more: retrying will not fix it
    return new PermanentError(`${action} ${where}: the server refused it (${message}); a full disk or an existing target are likely`, { cause: err });
  }
  return new PermanentError(`${action} ${where}: ${message}`, { cause: err });
}

/** The longest text of the server's we quote in an error (it is stored with a batch's failure, shown on the status page). */
const MAX_SERVER_TEXT = 300;

/**
 * Text the server chose (an SFTP status message is any UTF-8 it likes), made fit to quote: control
 * characters and bidirectional overrides (a terminal escape, a line forged in a log) become '?', and
 * it is cut at MAX_SERVER_TEXT characters.
 */
export function serverText(text: string): string {
  const clean = text.replace(/[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
  return clean.length > MAX_SERVER_TEXT ? `${clean.slice(0, MAX_SERVER_TEXT)}… (${clean.length} characters)` : clean;
}

function isConnectionGone(message: string): boolean {
  // "Unexpected end event" / "close event": ssh2-sftp-client's words for a connection that went away
  // during a stat or a rename (lstat: _xstat: Unexpected end event)
  return /no sftp connection|not connected|connection (lost|closed)|channel (closed|open failure)|end of file|ECONNRESET|premature close|unexpected (end|close) event/i.test(message);
}
