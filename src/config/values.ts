import { isIP } from 'node:net';
import { z } from 'zod';

/** Value types shared by the sections of the configuration. */

/**
 * Text that may not be empty: an empty value (a template's unset variable, `""`) is never meant. It
 * used to be taken: `http.host: ""` listened on every interface, an empty key file path became the
 * config's folder, an empty SFTP folder the login folder.
 */
export const text = z.string().min(1, 'empty: give a value, or leave the key out for its default');
export const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (A-Z, 0-9, _)');
export const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time HH:MM');
// that the date exists (no 2026-02-30) is checked with the calendar, at load (config/load.ts)
export const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD');
/** an IANA time zone that this Node's Intl knows (a typo fails at load, not at the first cut-off) */
export const timeZone = z.string().refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, { error: (issue) => `unknown time zone ${JSON.stringify(issue.input)}: an IANA name such as Europe/Berlin` });
/** a regular expression (reports.pattern) that compiles */
export const regex = text.refine((text) => {
  try {
    new RegExp(text.replaceAll('{issuer}', 'X'));
    return true;
  } catch {
    return false;
  }
}, { error: (issue) => `not a valid regular expression: ${JSON.stringify(issue.input)}` });

/** SHA-256 as hex (64 digits; ':' or spaces between bytes allowed, as tools print it) */
export const sha256Hex = z.string().refine((s) => /^[0-9a-f]{64}$/i.test(s.replace(/[\s:]/g, '')), 'a SHA-256 in hex (64 hex digits)');

/**
 * An OpenPGP fingerprint as crypto/pgp-keys.ts compares it (spaces and a leading 0x dropped): 40 hex
 * digits, 64 for a v6 key. Anything else could never match a key, and would fail at the first send.
 */
export const pgpFingerprint = z.string().refine((s) => /^([0-9a-f]{40}|[0-9a-f]{64})$/i.test(s.replace(/\s+/g, '').replace(/^0x/i, '')),
  'an OpenPGP fingerprint: 40 hex digits (64 for a v6 key), spaces allowed');

/**
 * Node runs a timer of more than 2^31-1 ms (24.8 days) after 1 ms instead: a longer timeout would
 * fire at once (every SSH handshake timing out, a shutdown cut short, a lease renewed in a busy
 * loop). The timing keys are bounded well below it.
 */
export const MAX_TIMER_MS = 3_600_000;
export const MAX_TIMER_SECONDS = 86_400;
const urlOf = (text: string): URL | undefined => {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
};
/**
 * An HTTP(S) URL: fetch can post to nothing else (file:, mailto: failed at every alert). A user and
 * password go as basic authentication: over plain http they crossed the network in clear, so only
 * with https. Never quoted in the message: it may hold a password.
 */
export const httpUrl = z.string()
  .refine((text) => ['http:', 'https:'].includes(urlOf(text)?.protocol ?? ''), 'an http:// or https:// URL')
  .refine((text) => { const url = urlOf(text); return !url || url.protocol !== 'http:' || (!url.username && !url.password) || isLoopback(url.hostname); },
    'a user and password only with https:// (over http:// they would cross the network in clear), or to this machine');

const isLoopback = (host: string) => host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';

/**
 * A host name or IP address alone. A URL (sftp://host), a user (bx@host), a port (host:2222) or a
 * space loaded and failed at every connection: for a send, once its cards were claimed.
 */
export const hostName = text.refine((host) => isIP(host) !== 0 || /^[\p{L}\p{N}_]([\p{L}\p{N}_.-]*[\p{L}\p{N}_.])?$/u.test(host),
  'a host name or IP address alone: no scheme, user, port or space (the port and user have keys of their own)');

/** Cut-off times HH:MM, at least one, each once (a time given twice sent a second file at that minute). */
export const cutOffs = z.array(hhmm).min(1).superRefine((times, ctx) => {
  times.forEach((time, i) => {
    if (times.indexOf(time) < i) ctx.addIssue({ code: 'custom', path: [i], message: `${time} is also cut-off ${times.indexOf(time)}: give each time once` });
  });
});
