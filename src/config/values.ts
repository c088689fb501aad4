import { z } from 'zod';

/** Value types shared by the sections of the configuration. */
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
export const regex = z.string().refine((text) => {
  try {
    new RegExp(text.replaceAll('{issuer}', 'X'));
    return true;
  } catch {
    return false;
  }
}, { error: (issue) => `not a valid regular expression: ${JSON.stringify(issue.input)}` });

/** SHA-256 as hex (64 digits; ':' or spaces between bytes allowed, as tools print it) */
export const sha256Hex = z.string().refine((s) => /^[0-9a-f]{64}$/i.test(s.replace(/[\s:]/g, '')), 'a SHA-256 in hex (64 hex digits)');
