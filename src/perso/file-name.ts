import { ConfigError } from '../errors.js';

const PLACEHOLDER = /\{([^}]*)\}/g;

const KNOWN = ['issuer', 'date', 'seq'];
/** the longest value of each placeholder: an issuer code of 8, YYYYMMDD, six digits */
const LONGEST: Record<string, number> = { issuer: 8, date: 8, seq: 6 };
/** NAME_MAX (255) less the longest suffix a file is written under before its rename (`.part`, `.tmp`) */
const MAX_NAME = 250;

/**
 * What is wrong with a file name pattern, or undefined: known placeholders only, and {date} and
 * {seq} both present (a name is never reused: it changes with the business date and the sequence).
 */
export function fileNamePatternProblem(pattern: string): string | undefined {
  const used = [...pattern.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  const unknown = used.find((key) => !KNOWN.includes(key));
  if (unknown !== undefined) return `unknown placeholder {${unknown}} (known: {issuer}, {date}, {seq})`;
  for (const key of ['date', 'seq']) if (!used.includes(key)) return `needs {${key}}, so that no two files get the same name`;
  const sample = pattern.replace(PLACEHOLDER, 'X0');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(sample)) return `${JSON.stringify(pattern)} does not give a plain file name (letters, digits, . _ -)`;
  const longest = pattern.replace(PLACEHOLDER, (_, key: string) => 'X'.repeat(LONGEST[key]!)).length;
  if (longest > MAX_NAME) return `gives names of up to ${longest} characters; at most ${MAX_NAME} (a file name holds 255 bytes, and the file is written as <name>.tmp and <name>.part first)`;
  return undefined;
}

/**
 * The personalization file name from the configured pattern: {issuer}, {date} (YYYYMMDD) and {seq}
 * (6 digits). An unknown placeholder or a name that could leave its folder is a ConfigError.
 */
export function personalizationFileName(pattern: string, issuerCode: string, businessDate: string, sequence: number): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(businessDate)) throw new ConfigError(`business date ${JSON.stringify(businessDate)} is not YYYY-MM-DD`);
  if (!Number.isInteger(sequence) || sequence < 1 || sequence > 999_999) throw new ConfigError(`file sequence ${sequence} is not 1–999999`);
  const values: Record<string, string> = {
    issuer: issuerCode,
    date: businessDate.replace(/-/g, ''),
    seq: String(sequence).padStart(6, '0'),
  };
  const name = pattern.replace(PLACEHOLDER, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new ConfigError(`perso.fileNamePattern: unknown placeholder ${whole} (known: {issuer}, {date}, {seq})`);
    return value;
  });
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new ConfigError(`perso.fileNamePattern gives ${JSON.stringify(name)}, not a plain file name`);
  return name;
}
