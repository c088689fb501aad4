import { Writable } from 'node:stream';
import { MAX_SIGNATURE_BYTES, ReportSignatureError } from '../crypto/report-signature.js';
import type { RemoteSession } from '../transport/remote.js';
import type { DetachedSignature } from './decrypt-report.js';
import { signatureNameOf, type ReadyReport } from './pick-reports.js';

/**
 * The detached `<report>.sig` of a report on the server (bureau-interface 1.1): read into memory
 * (a few hundred bytes), and moved with its report.
 */

/** Reads the signature listed beside the report; one too large to be a signature is refused unread. */
export async function fetchSignature(session: RemoteSession, remotePath: string, report: ReadyReport): Promise<DetachedSignature> {
  const name = signatureNameOf(report.name);
  if (!report.signature) return { name, data: null };
  if (report.signature.size > MAX_SIGNATURE_BYTES) {
    throw new ReportSignatureError(`signature ${name} is ${report.signature.size} bytes: too large to be a signature, not read`);
  }
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
  await session.download(signatureNameOf(remotePath), sink);
  return { name, data: Buffer.concat(chunks) };
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
