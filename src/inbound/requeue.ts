import { posix } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Db } from '../db/connection.js';
import { forgetQuarantinedReport, quarantinedReports } from '../db/reports.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log.js';
import { withSession, type RemoteSession, type Transport } from '../transport/remote.js';
import { signatureNameOf } from './pick-reports.js';
import { receiveBureau, type ReceiveBureau } from './receive-bureau.js';

export interface RequeueOutcome {
  id: number;
  remoteName: string;
  /** null when put back; else why not */
  refused: string | null;
}

/**
 * Gives quarantined reports of `bureau` (default the first) another try (after the cause was fixed, e.g. a wrong key):
 * moves each from that bureau's failed/ back into its outbound folder and forgets its row, so the
 * next receive run processes it like a new report. A report whose file is no longer in failed/ is left as it is.
 */
export async function requeueQuarantined(
  deps: { db: Db; config: Config; bureau?: ReceiveBureau; transport: Transport; log: Logger }, id?: number,
): Promise<RequeueOutcome[]> {
  const bureau = deps.bureau ?? receiveBureau(deps.config);
  const rows = await quarantinedReports(deps.db, id, bureau);
  if (!rows.length) return [];
  const { sftp } = bureau.config;
  return withSession(deps.transport, async (session) => {
    const outcomes: RequeueOutcome[] = [];
    for (const row of rows) {
      const outcome: RequeueOutcome = { id: row.id, remoteName: row.remote_name, refused: null };
      // a name already taken in failed/ got the hash as suffix when this one was moved there
      const suffixed = posix.join(sftp.failedDir, `${row.remote_name}.${row.sha256.slice(0, 12)}`);
      const to = posix.join(sftp.outboundDir, row.remote_name);
      try {
        const from = (await session.stat(suffixed)) ? suffixed : posix.join(sftp.failedDir, row.remote_name);
        if (!(await session.stat(from))) outcome.refused = `${from} is not on the server`;
        else if (await session.stat(to)) outcome.refused = `${to} already exists`;
        else {
          await putBackSignature(session, from, to);
          await session.move(from, to);
          await forgetQuarantinedReport(deps.db, row.id);
          deps.log.info({ reportId: row.id, remoteName: row.remote_name }, 'quarantined report put back for the next receive run');
        }
      } catch (err) {
        outcome.refused = messageOf(err);
      }
      outcomes.push(outcome);
    }
    return outcomes;
  });
}

/** The report's .sig goes back first, as the bureau uploads it; one the bureau sent again meanwhile is kept. */
async function putBackSignature(session: RemoteSession, from: string, to: string): Promise<void> {
  const [sigFrom, sigTo] = [signatureNameOf(from), signatureNameOf(to)];
  if ((await session.stat(sigFrom)) && !(await session.stat(sigTo))) await session.move(sigFrom, sigTo);
}
