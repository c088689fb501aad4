import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { INVALID_LISTED, markedContracts, nextSequence, unfinishedBatches, withField } from '../db/batches.js';
import type { Db } from '../db/connection.js';
import type { ContractForPerso } from '../domain/contract.js';
import type { Clock, SendResult } from '../jobs.js';
import type { PanCipher } from '../security/pan.js';
import type { PersoFileMaker } from './perso-file.js';

export interface DryRunRequest {
  db: Db;
  cipher: PanCipher;
  maker: PersoFileMaker;
  businessDate: string;
  maxCards: number;
  clock: Clock;
}

/**
 * What a send would do, without changing anything: unfinished batches (state 'would resume'),
 * the files the Marked cards would make (each rendered in full and discarded, state 'dry-run') and
 * the cards that would become Invalid with their reasons. Reads without locks; writes nothing.
 */
export async function dryRunSend(req: DryRunRequest): Promise<SendResult> {
  const result: SendResult = { batches: [], cardsSent: 0, invalid: [], invalidTotal: 0 };
  for (const b of await unfinishedBatches(req.db)) result.batches.push({ fileName: b.fileName, records: b.recordCount, state: `would resume (${b.state})` });
  const valid = validOnly(req, markedContracts(req.db, req.cipher), result)[Symbol.asyncIterator]();
  let sequence = await nextSequence(req.db, req.businessDate);
  for (;;) {
    const first = await valid.next();
    if (first.done) return result;
    const rendered = req.maker.render({ businessDate: req.businessDate, sequence, createdAt: req.clock() }, take(first.value, valid, req.maxCards));
    await pipeline(rendered.clear, discard());
    result.batches.push({ fileName: req.maker.fileName(req.businessDate, sequence), records: rendered.totals().records, state: 'dry-run' });
    sequence++;
  }
}

async function* validOnly(req: DryRunRequest, contracts: AsyncIterable<ContractForPerso>, result: SendResult): AsyncGenerator<ContractForPerso> {
  for await (const contract of contracts) {
    const verdict = req.maker.validate(contract, req.businessDate);
    if (verdict.ok) {
      yield contract;
      continue;
    }
    result.invalidTotal = (result.invalidTotal ?? 0) + 1;
    if (result.invalid.length < INVALID_LISTED) result.invalid.push({ contractNumber: contract.contractId, plasticId: contract.plasticId, reason: withField(verdict.field, verdict.reason) });
  }
}

/** `first`, then at most max-1 more from the shared iterator (the rest stays for the next file). */
async function* take(first: ContractForPerso, rest: AsyncIterator<ContractForPerso>, max: number): AsyncGenerator<ContractForPerso> {
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
