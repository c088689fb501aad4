import type { ContractListing } from '../db/contracts.js';
import { canonicalId } from '../domain/contract.js';
import type { AnsweredFile } from './bureau.js';

type Expected =
  | { kind: 'InProduction'; file: string }
  | { kind: 'Rejected'; code: string; file: string }
  | { kind: 'Shipped'; expectedShipDate: string | null; shipDate: string | null; trackingNumber: string; file: string };

/** At most this many problems are listed (the count says how many there were). */
const LISTED = 20;

export interface ConsistencyResult {
  /** every card is Invalid, or Rejected/Shipped exactly as the bureau reported it */
  consistent: boolean;
  problems: string[];
  problemCount: number;
}

/**
 * Compares every contract's final state with what the bureau reported: a card the bureau rejected
 * is Rejected with that code, a shipped or expected one is Shipped with those dates and tracking,
 * and a card the bureau never mentioned must be one our validation set Invalid. A card of a report
 * not received (`notReceived`: it waits on the bureau's server) must still be InProduction in its file.
 */
export function checkFinalStates(contracts: ContractListing[], answers: AnsweredFile[], notReceived: AnsweredFile[] = []): ConsistencyResult {
  const expected = expectations(answers, notReceived);
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (text: string) => {
    problemCount++;
    if (problems.length < LISTED) problems.push(text);
  };
  for (const c of contracts) {
    const key = `${c.contractNumber}/${c.plasticId}`;
    const want = expected.get(key);
    expected.delete(key);
    const card = `contract ${c.contractNumber} plastic ${c.plasticId}`;
    if (!want) {
      if (c.status !== 'Invalid') problem(`${card} is ${c.status}, but the bureau never reported it`);
      else if (!c.reason) problem(`${card} is Invalid without a reason`);
      continue;
    }
    if (c.batchFile !== want.file) problem(`${card} was reported for ${want.file}, but is in batch ${c.batchFile ?? '(none)'}`);
    if (c.status !== want.kind) {
      problem(want.kind === 'InProduction'
        ? `${card} is ${c.status}, but the bureau's report on it was not received`
        : `${card} is ${c.status}, the bureau reported it ${want.kind}`);
    } else if (want.kind === 'Rejected' && c.rejectCode !== want.code) {
      problem(`${card} is rejected with code ${c.rejectCode}, the bureau said ${want.code}`);
    } else if (want.kind === 'Shipped') {
      const same = (c.shipDate ?? null) === want.shipDate && (c.expectedShipDate ?? null) === want.expectedShipDate
        && (c.trackingNumber ?? '') === want.trackingNumber;
      if (!same) problem(`${card}: shipment ${c.expectedShipDate}/${c.shipDate}/${c.trackingNumber} differs from the report's ${want.expectedShipDate}/${want.shipDate}/${want.trackingNumber}`);
    }
  }
  for (const key of expected.keys()) problem(`the bureau reported ${key}, which is not in the database`);
  return { consistent: problemCount === 0, problems, problemCount };
}

function expectations(answers: AnsweredFile[], notReceived: AnsweredFile[]): Map<string, Expected> {
  const map = new Map<string, Expected>();
  const keyOf = (r: { cardContractId: string; plasticId: string }) => `${canonicalId(r.cardContractId)}/${canonicalId(r.plasticId)}`;
  const decisionsOf = (a: AnsweredFile) => {
    if (!a.decisions) throw new Error(`the sandbox bureau did not keep its decisions for ${a.sourceFile} (keepDecisions)`);
    return a.decisions;
  };
  for (const a of notReceived) {
    const { rejections, shipments } = decisionsOf(a);
    for (const r of [...rejections, ...shipments]) map.set(keyOf(r), { kind: 'InProduction', file: a.sourceFile });
  }
  for (const a of answers) {
    const { rejections, shipments } = decisionsOf(a);
    for (const r of rejections) map.set(keyOf(r), { kind: 'Rejected', code: r.code, file: a.sourceFile });
    for (const s of shipments) {
      map.set(keyOf(s), { kind: 'Shipped', expectedShipDate: s.expectedShipDate, shipDate: s.shipDate, trackingNumber: s.trackingNumber, file: a.sourceFile });
    }
  }
  return map;
}
