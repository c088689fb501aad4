import { canonicalId } from '../domain/contract.js';
import type { ContractForPerso } from '../domain/contract.js';
import { maskPansInText } from '../security/mask.js';
import { quote, Unfit } from './checks.js';
import { detailWriterOf } from './detail-writer.js';
import type { Layout } from './layout-types.js';

/** A contract after the embossing rules and checks. */
export interface PreparedCard {
  /** card_contracts.id */
  id: number;
  /** card contract id, canonical digits (for the hash total) */
  contractId: string;
  /** its detail record, with the record sequence and file.* fields still as in the layout's template */
  record: Buffer;
}

export type Prepared = { ok: true; card: PreparedCard } | { ok: false; field: string; reason: string };

/**
 * Applies the embossing rules and checks one contract against the layout: physical card, PAN (12–19
 * digits, Luhn), expiry not before the business date's month, ISO 3166 alpha-3 country, required
 * fields, allowed values, every value fits its field. The first problem found makes it invalid, with
 * a reason naming the field (PAN masked). Pure: the same contract always prepares the same way, and
 * the renderer runs exactly these checks again.
 */
export function prepareCard(layout: Layout, contract: ContractForPerso, businessDate: string): Prepared {
  const writer = detailWriterOf(layout);
  const record = Buffer.from(writer.template);
  try {
    writer.write(contract, businessDate, record, 0);
    return { ok: true, card: { id: contract.id, contractId: contractIdOf(contract), record } };
  } catch (err) {
    const invalid = invalidOf(err);
    if (!invalid) throw err;
    return invalid;
  }
}

const DIGITS_WITHOUT_LEADING_ZERO = /^[1-9]\d*$/;

/** The contract id for the hash total: digits, whatever the layout does with it. */
export function contractIdOf(contract: ContractForPerso): string {
  const raw = typeof contract.contractId === 'string' ? contract.contractId : String(contract.contractId ?? '');
  if (DIGITS_WITHOUT_LEADING_ZERO.test(raw)) return raw;
  const id = canonicalId(raw.trim());
  if (!/^\d+$/.test(id)) throw new Unfit('contractId', `${quote(id)} must be digits (the trailer's hash total adds contract ids)`);
  return id;
}

/** An Unfit as the invalid outcome (reason names the field, PANs masked); undefined for other errors. */
export function invalidOf(err: unknown): { ok: false; field: string; reason: string } | undefined {
  if (!(err instanceof Unfit)) return undefined;
  return { ok: false, field: err.field, reason: `${err.field}: ${maskPansInText(err.problem)}` };
}
