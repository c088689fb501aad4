import type { Readable } from 'node:stream';
import type { Config } from '../config/schema.js';
import { encryptStream, pgpConfigFromConfig } from '../crypto/pgp.js';
import type { Logger } from '../log.js';
import type { PersoFileMaker } from './perso-file.js';
import { makePersoRenderer } from './perso-renderer.js';

/**
 * The PersoFileMaker of the configured bureau profile: layout and names from config.perso, keys
 * from config.pgp (bureau key pinned and checked for expiry and revocation at `now`).
 */
export async function makePersoFileMaker(config: Config, deps: { log: Logger; now: Date }): Promise<PersoFileMaker> {
  const renderer = makePersoRenderer(config);
  const pgp = await pgpConfigFromConfig(config.pgp, deps);
  return {
    ...renderer,
    encrypt: (clear: Readable) => encryptStream(clear, { recipients: pgp.recipients, signingKey: pgp.signingKey, armor: pgp.armor }),
  };
}
