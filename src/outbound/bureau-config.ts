// One bureau of the config as the send job sees it: the per-bureau view built in one place.
import { basename, dirname, isAbsolute } from 'node:path';
import type { Bureau, Config } from '../config/schema.js';
import type { BureauScope } from '../db/batches.js';
import { sendLeaseOf } from '../lease/job-lease.js';
import { screenRouteFor, type ScreenRoute } from './screen.js';

/** What a send job knows of the bureau it serves. */
export interface SendBureau {
  code: string;
  name: string;
  /** the config as this bureau's send reads it: bureau, perso (layout, names), pgp, sftp, reports, sendAt are the bureau's */
  config: Config;
  /** its batches in the database (the first bureau's also take the batches without a bureau code) */
  scope: BureauScope;
  /** set when cards may go to another bureau: each card is then routed as it is screened */
  route: ScreenRoute | undefined;
  /** the lease its runs hold: `send` for the first bureau (the name of every earlier version), `send:<CODE>` for the others */
  lease: string;
  /** its own outbox and archive, under workDir (the first bureau keeps workDir/outbox and workDir/archive) */
  workDir: string;
}

/**
 * The bureau `code` of the config, as its send reads it. The first bureau's view is the config itself
 * (the top-level sections already describe it), so a single-bureau config behaves exactly as before.
 */
export function bureauConfig(config: Config, code: string): SendBureau {
  const index = config.bureaus.findIndex((b) => b.code === code);
  if (index < 0) throw new Error(`${code} is not a configured bureau (${config.bureaus.map((b) => b.code).join(', ')})`);
  const bureau = config.bureaus[index]!;
  const first = index === 0;
  return {
    code, name: bureau.name,
    config: first ? config : viewOf(config, bureau, index),
    scope: { code, first },
    route: screenRouteFor(code, config.routing),
    lease: sendLeaseOf(config.bureaus, code),
    // two bureaus' sends may run at once: each removes the half-written files of its own outbox only
    workDir: first ? config.workDir : `${config.workDir}/bureaus/${code}`,
  };
}

/** Every configured bureau, in config order. */
export function sendBureaus(config: Config): SendBureau[] {
  return config.bureaus.map((b) => bureauConfig(config, b.code));
}

function viewOf(config: Config, bureau: Bureau, index: number): Config {
  if (bureau.fileNamePattern === undefined) {
    // filled in from the layout when the config is loaded (config/load.ts): never guessed here, two bureaus must not share file names
    throw new Error(`bureaus[${index}].fileNamePattern: not resolved from its layout (load the config with loadConfig)`);
  }
  // after load a bureau's layout is its file's absolute path: as a name in a folder, like the first bureau's (config/bureau-layouts.ts)
  const file = isAbsolute(bureau.layout) && bureau.layout.endsWith('.yaml');
  const layout = file ? { layout: basename(bureau.layout).replace(/\.yaml$/, ''), layoutsDir: dirname(bureau.layout) } : { layout: bureau.layout };
  return {
    ...config,
    bureau: { code: bureau.code },
    perso: { ...config.perso, ...layout, lineEnding: bureau.lineEnding ?? 'LF', fileNamePattern: bureau.fileNamePattern },
    pgp: bureau.pgp,
    sftp: bureau.sftp,
    reports: bureau.reports,
    schedule: { ...config.schedule, sendAt: bureau.sendAt },
  };
}
