// One bureau of the config as the send job sees it: the bureau's view of the config (config/bureau-view.ts)
// with what only the send needs.
import { bureauView, jobNameFor } from '../config/bureau-view.js';
import type { Config } from '../config/schema.js';
import type { BureauScope } from '../db/bureau-scope.js';
import { SEND_LEASE } from '../lease/job-lease.js';
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

/** The bureau `code` of the config, as its send reads it. */
export function bureauConfig(config: Config, code: string): SendBureau {
  const view = bureauView(config, code);
  return {
    code, name: view.name, config: view.config, workDir: view.workDir,
    scope: { code, first: view.first },
    route: screenRouteFor(code, config.routing),
    lease: jobNameFor(view, SEND_LEASE),
  };
}

/** Every configured bureau, in config order. */
export function sendBureaus(config: Config): SendBureau[] {
  return config.bureaus.map((b) => bureauConfig(config, b.code));
}
