import { AppError, PermanentError, TransientError, messageOf } from '../errors.js';
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
  const message = messageOf(err);
  if (code === SFTP_PERMISSION_DENIED || code === 'EACCES' || /permission denied/i.test(message)) {
    return new PermanentError(`${action} ${where}: permission denied`, { cause: err });
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

function isConnectionGone(message: string): boolean {
  return /no sftp connection|not connected|connection (lost|closed)|channel (closed|open failure)|end of file|ECONNRESET|premature close/i.test(message);
}
