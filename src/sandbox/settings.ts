import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseYamlText, readTextFile } from '../config/text-file.js';
import { ConfigError } from '../errors.js';

/** The sandbox bureau's own settings, in bureau.yaml beside the sandbox config. */
export const BUREAU_SETTINGS_FILE = 'bureau.yaml';

const share = z.number().min(0).max(1);

export const bureauSettingsSchema = z.strictObject({
  /** seed of the decisions; the same seed and file give the same report */
  seed: z.number().int().default(1),
  /** share of detail records rejected */
  rejectRate: share.default(0.05),
  /** share of accepted records reported as already shipped (the others: expected) */
  shipRate: share.default(0.4),
  /** expected ship dates fall on the next 1…N business days */
  shipWithinBusinessDays: z.number().int().min(1).max(30).default(3),
  /** the kind of report written: `.rsa` (RSA-OAEP by node-rsa, detached `.sig`) or `.pgp` (OpenPGP, signed) */
  reportKind: z.enum(['rsa', 'pgp']).default('rsa'),
  /** how often the inbound folder is looked at */
  pollIntervalMs: z.number().int().min(50).default(500),
  stock: z.strictObject({
    /** opening stock of a product seen for the first time */
    defaultOpening: z.number().int().min(0).default(20_000),
    /** per product code, overriding defaultOpening */
    opening: z.record(z.string(), z.number().int().min(0)).default({}),
    minStock: z.number().int().min(0).default(1000),
    /** share of used plastics spoiled in production */
    spoilRate: share.default(0.01),
  }).prefault({}),
});

export type BureauSettings = z.infer<typeof bureauSettingsSchema>;

export const DEFAULT_BUREAU_SETTINGS_YAML = `# Sandbox bureau simulator settings — TEST ONLY.
seed: 1                       # same seed + same file = same report (--seed overrides)
rejectRate: 0.05              # share of records rejected (codes 012, 021, 034)
shipRate: 0.4                 # share of accepted records already shipped; the rest get an expected date
shipWithinBusinessDays: 3     # expected ship dates on the next 1..N business days
reportKind: rsa               # rsa: RSA-OAEP by node-rsa + detached .sig; pgp: OpenPGP signed by the bureau key
pollIntervalMs: 500           # how often /inbound is looked at
stock:
  defaultOpening: 20000       # opening stock of a product code seen for the first time
  opening:                    # per product code
    PLATIN01: 1050            # low on purpose: the demo shows a low-stock warning
  minStock: 1000              # a closing stock below this is reported as low
  spoilRate: 0.01             # share of plastics spoiled in production
`;

/** Reads bureau.yaml (defaults when absent); a wrong value is a ConfigError naming the key. */
export function loadBureauSettings(file: string, overrides: Partial<BureauSettings> = {}): BureauSettings {
  // read as the config is: UTF-8 and size checked, YAML 1.2 core schema (`seed: 010` is 10, not 8)
  const raw = existsSync(file) ? parseYamlText(file, readTextFile(file, file)) ?? {} : {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: a mapping of settings (seed, rejectRate, …), not ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  const parsed = bureauSettingsSchema.safeParse({ ...raw, ...overrides });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}
