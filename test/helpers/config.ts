import { configSchema, type Config } from '../../src/config/schema.js';

/** A complete, validated config for tests: the given sections over the schema's defaults. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse({ issuer: { code: 'BXISSUER' }, bureau: { code: 'BUREAU01' }, ...overrides });
}
