import { Writable } from 'node:stream';
import { MAX_SIGNATURE_BYTES, ReportSignatureError } from '../crypto/report-signature.js';
import type { RemoteSession } from '../transport/remote.js';
import type { DetachedSignature } from './decrypt-report.js';
import { signatureNameOf, type ReadyReport } from './pick-reports.js';

/**
 * The detached `<report>.sig` of a report on the server (bureau-interface 1.1): read into memory
 * (a few hundred bytes), and moved with its report.
 */

/**
 * The signature listed beside the report, read from the server only when asked (a `.pgp` report or
 * a run with reports.signatures off never reads it); one too large to be a signature is refused unread.
 */
export function signatureOf(session: RemoteSession, remotePath: string, report: ReadyReport): DetachedSignature {
  const name = signatureNameOf(report.name);
  const listed = report.signature;
  return {
    name,
    read: async () => {
      if (!listed) return null;
      if (listed.size > MAX_SIGNATURE_BYTES) throw new ReportSignatureError(`signature ${name} is ${listed.size} bytes: too large to be a signature, not read`);
      return download(session, signatureNameOf(remotePath), name);
    },
  };
}

async function download(session: RemoteSession, remotePath: string, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      if (total > MAX_SIGNATURE_BYTES) return done(new ReportSignatureError(`signature ${name} grew past ${MAX_SIGNATURE_BYTES} bytes while read`));
      chunks.push(chunk);
      done();
    },
  });
  await session.download(remotePath, sink);
  return Buffer.concat(chunks);
}

/**
 * Moves the report's signature, when there is one, to `<reportTarget>.sig` (or deletes it with
 * `reportTarget` null). Called before the report itself moves: if we stop in between, the report
 * stays without its signature, and the next run knows it by its content hash (already applied or
 * quarantined: the signature is not needed again). The other order would leave a lone signature.
 */
export async function moveSignatureWith(session: RemoteSession, reportPath: string, reportTarget: string | null): Promise<void> {
  const from = signatureNameOf(reportPath);
  if (!(await session.stat(from))) return;
  if (reportTarget === null || (await session.stat(signatureNameOf(reportTarget)))) await session.remove(from);
  else await session.move(from, signatureNameOf(reportTarget));
}
