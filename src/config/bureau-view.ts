// One bureau of the config as a job sees it: the per-bureau view, built in this one place for the
// send and the receive jobs alike.
import { basename, dirname, isAbsolute } from 'node:path';
import type { Bureau, Config } from './schema.js';

/** What a job serving one bureau knows of it. */
export interface BureauView {
  code: string;
  name: string;
  /** the first bureau of the list: keeps the lease, history names and folders of single-bureau versions, and owns rows without a bureau code */
  first: boolean;
  /** the config as this bureau's jobs read it: bureau, perso (layout, names), pgp, sftp, reports, sendAt are the bureau's */
  config: Config;
  /** its own local folders (outbox, inbox, archives), under workDir: the first bureau keeps workDir itself */
  workDir: string;
}

/**
 * The bureau `code` of the config. The first bureau's view is the config itself (the top-level
 * sections already describe it), so a single-bureau config behaves exactly as before.
 */
export function bureauView(config: Config, code: string): BureauView {
  const index = config.bureaus.findIndex((b) => b.code === code);
  if (index < 0) throw new Error(`${code} is not a configured bureau (${config.bureaus.map((b) => b.code).join(', ')})`);
  const bureau = config.bureaus[index]!;
  const first = index === 0;
  return {
    code, name: bureau.name, first,
    config: first ? config : viewOf(config, bureau, index),
    // two bureaus' jobs may run at once: each keeps (and cleans) only its own folders
    workDir: first ? config.workDir : `${config.workDir}/bureaus/${code}`,
  };
}

/** Every configured bureau, in config order. */
export function bureauViews(config: Config): BureauView[] {
  return config.bureaus.map((b) => bureauView(config, b.code));
}

/**
 * The name a job has for this bureau, as its lease and in the run history: the job's own name
 * (`send`, `receive`, the name of every earlier version) for the first bureau, `<job>:<CODE>` for the others.
 */
export function jobNameFor(bureau: Pick<BureauView, 'code' | 'first'>, job: string): string {
  return bureau.first ? job : `${job}:${bureau.code}`;
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
