import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { unfinishedBatches } from '../db/batches.js';
import { nextSequence } from '../db/claim.js';
import { markedPages } from '../db/claim-stores.js';
import type { Db } from '../db/connection.js';
import type { PreparedCard } from '../perso/index.js';
import { noteInvalid, type Clock, type SendResult } from '../jobs.js';
import type { PanCipher } from '../security/pan.js';
import type { PersoFileMaker } from './perso-file.js';
import { screenPage, type ScreenRoute } from './screen.js';
import type { BureauScope } from '../db/bureau-scope.js';

export interface DryRunRequest {
  db: Db;
  cipher: PanCipher;
  maker: PersoFileMaker;
  businessDate: string;
  maxCards: number;
  clock: Clock;
  /** the bureau the send is for: its unfinished batches and sequence */
  bureau?: BureauScope;
  /** when cards may go to another bureau: screened as the send's claim screens them */
  route?: ScreenRoute;
}

/**
 * What a send would do, without changing anything: unfinished batches (state 'would resume'),
 * the files the Marked cards would make (each rendered in full and discarded, state 'dry-run') and
 * the cards that would become Invalid with their reasons. Reads without locks; writes nothing.
 */
export async function dryRunSend(req: DryRunRequest): Promise<SendResult> {
  const result: SendResult = { batches: [], cardsSent: 0, invalid: [], invalidTotal: 0 };
  for (const b of await unfinishedBatches(req.db, req.bureau)) result.batches.push({ fileName: b.fileName, records: b.recordCount, state: `would resume (${b.state})` });
  const valid = validOnly(req, result)[Symbol.asyncIterator]();
  let sequence = await nextSequence(req.db, req.businessDate, req.bureau);
  for (;;) {
    const first = await valid.next();
    if (first.done) return result;
    const rendered = req.maker.renderPrepared({ businessDate: req.businessDate, sequence, createdAt: req.clock() }, take(first.value, valid, req.maxCards));
    await pipeline(rendered.clear, discard());
    result.batches.push({ fileName: req.maker.fileName(req.businessDate, sequence), records: rendered.totals().records, state: 'dry-run' });
    sequence++;
  }
}

/** The Marked cards prepared for a file, screened as the send's claim screens them; the invalid ones counted and listed. */
async function* validOnly(req: DryRunRequest, result: SendResult): AsyncGenerator<PreparedCard> {
  for await (const page of markedPages(req.db)) {
    const { verdict, prepared } = screenPage(page, req.cipher, (contract) => req.maker.validate(contract, req.businessDate), req.route);
    noteInvalid(result, verdict.invalid);
    yield* prepared;
  }
}

/** `first`, then at most max-1 more from the shared iterator (the rest stays for the next file). */
async function* take<T>(first: T, rest: AsyncIterator<T>, max: number): AsyncGenerator<T> {
  yield first;
  for (let n = 1; n < max; n++) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
