/** A card contract as the domain sees it: clear values, after decryption of the PAN. */
export type CardForm = 'physical' | 'virtual';
export const REQUEST_TYPES = ['NEW', 'REISSUE', 'RENEW', 'REPLACE', 'REPRINT'] as const;
export type RequestType = (typeof REQUEST_TYPES)[number];

/** The fields of one card, named as in the detail record of the bureau interface. */
export interface CardFields {
  /** card contract id: digits, at most 15 */
  contractId: string;
  /** plastic id: digits, at most 12 */
  plasticId: string;
  /** clear PAN (only ever in memory) */
  pan: string;
  /** plastic sequence number: 1 virtual, 2 physical, reissues higher */
  psn: number;
  /** expiry YYMM */
  expiry: string;
  requestType: RequestType;
  cardForm: CardForm;
  title: string;
  firstName: string;
  lastName: string;
  companyName: string;
  addressLine1: string;
  addressLine2: string;
  addressLine3: string;
  postalCode: string;
  city: string;
  /** ISO 3166 alpha-3 */
  country: string;
  productCode: string;
  chipProfile: string;
  /** 1 post, 2 courier, 3 branch, 4 return to issuer */
  deliveryMethod: number;
  /** 'Y' or 'N' */
  pinMailer: 'Y' | 'N';
  /** optional override of emboss line 1 */
  embossedName?: string;
}

/** A contract read from the database for rendering: its row id plus the card fields. */
export interface ContractForPerso extends CardFields {
  /** card_contracts.id */
  id: number;
}

/** Canonical form of a numeric identifier: digits without leading zeros ("0" for zero). */
export function canonicalId(value: string): string {
  return value.replace(/^0+(?=\d)/, '');
}
