import type { InvalidCard } from '../db/claim.js';
import { persoRowOf, persoValuesOfPage, toPerso, type PersoPage, type PersoRow } from '../db/perso-rows.js';
import type { ContractForPerso } from '../domain/contract.js';
import { routeCard, type Routing } from '../domain/routing.js';
import type { Prepared, PreparedCard } from '../perso/index.js';
import { PanIntegrityError, type PanCipher } from '../security/pan.js';

/** Our own verdict on a page of contracts, for its claim. */
export interface PageVerdict {
  /** the valid contracts' ids, in page order: they get the batch's next record numbers */
  validIds: number[];
  /** the sum of their contract numbers, decimal (the trailer's hash total adds these up) */
  contractNumberSum: string;
  /** the others, each with its reason naming the field */
  invalid: InvalidCard[];
  /** cards routed to another bureau: neither claimed nor set aside, they stay Marked for their own bureau */
  others: number;
}

/**
 * The bureau a send screens for, when cards may go elsewhere: each card is routed (routeCard) before
 * anything else, a card of another bureau is left alone and one no rule places is Invalid. Absent when
 * every card is this bureau's (one bureau): then nothing is routed.
 */
export interface ScreenRoute {
  bureau: string;
  routing: Routing;
}

/** The route a bureau's send screens with; undefined when the routing can only name this bureau. */
export function screenRouteFor(bureau: string, routing: Routing): ScreenRoute | undefined {
  const onlyThis = routing.default === bureau && routing.rules.every((rule) => rule.bureau === bureau);
  return onlyThis ? undefined : { bureau, routing };
}

/** A page of contracts as screened for a batch: the claim's verdict, and the valid cards prepared for the file. */
export interface ScreenedPage {
  verdict: PageVerdict;
  prepared: PreparedCard[];
}

/**
 * Our own checks of a page of contracts read for a batch: each PAN decrypted and each card prepared
 * for the file (maker.validate). A PAN that cannot be read is that card's problem (Invalid, field
 * `pan`), not the batch's.
 */
export function screenPage(page: PersoPage, cipher: PanCipher, validate: (contract: ContractForPerso) => Prepared, route?: ScreenRoute): ScreenedPage {
  const verdict: PageVerdict = { validIds: [], contractNumberSum: '0', invalid: [], others: 0 };
  const prepared: PreparedCard[] = [];
  let sum = 0n;
  for (const values of persoValuesOfPage(page)) {
    const row = persoRowOf(values);
    // routed on the row as stored, before the PAN is decrypted: another bureau's card costs no decryption
    const routed = route && routeCard({
      productCode: row.product_code, country: row.country, deliveryMethod: Number(row.delivery_method), requestType: row.request_type,
    }, route.routing);
    if (routed?.ok && routed.bureau !== route!.bureau) {
      verdict.others++;
      continue;
    }
    const outcome: Prepared = routed && !routed.ok ? routed : screenOne(row, cipher, validate);
    if (outcome.ok) {
      verdict.validIds.push(Number(row.id));
      sum += BigInt(row.contract_number);
      prepared.push(outcome.card);
    } else {
      verdict.invalid.push({ contractId: Number(row.id), contractNumber: row.contract_number, plasticId: row.plastic_id, reason: withField(outcome.field, outcome.reason) });
    }
  }
  verdict.contractNumberSum = sum.toString();
  return { verdict, prepared };
}

function screenOne(row: PersoRow, cipher: PanCipher, validate: (contract: ContractForPerso) => Prepared): Prepared {
  let contract: ContractForPerso;
  try {
    contract = toPerso(row, cipher);
  } catch (err) {
    if (err instanceof PanIntegrityError) return { ok: false, field: 'pan', reason: err.message };
    throw err;
  }
  return validate(contract);
}

/** The reason as stored: it names the field first. */
export function withField(field: string, reason: string): string {
  return reason.startsWith(`${field}:`) ? reason : `${field}: ${reason}`;
}
