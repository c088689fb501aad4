import type { ContractForPerso } from '../domain/contract.js';
import type { PanCipher } from '../security/pan.js';
// types only: this module runs on the file thread too, which has no use for knex
import type { ContractWithClientRow } from './contracts.js';

/**
 * The columns a personalization record is made of, and nothing more: over a million rows every
 * unused column costs time. The contracts the claim reads travel as a PersoPage: JSON texts of
 * their values (PERSO_COLUMNS order), which the database builds itself. The claim's thread then never makes
 * the 24 JavaScript values of each row (reading and copying them to the file thread costs several
 * times more than one text: bench/RESULTS.md), and the file thread parses them.
 */
const PERSO_FIELDS = [
  'id', 'contract_number', 'plastic_id', 'pan_enc', 'pan_last4', 'plastic_seq', 'expiry', 'request_type', 'card_form', 'product_code',
  'chip_profile', 'delivery_method', 'pin_mailer', 'embossed_name',
] as const;
const CLIENT_FIELDS = ['title', 'first_name', 'last_name', 'company_name', 'address_line1', 'address_line2', 'address_line3', 'postal_code', 'city', 'country'] as const;
const FIELDS = [...PERSO_FIELDS, ...CLIENT_FIELDS];

/** `c.` columns of card_contracts, `cl.` columns of clients. */
export const PERSO_COLUMNS = [...PERSO_FIELDS.map((f) => `c.${f}`), ...CLIENT_FIELDS.map((f) => `cl.${f}`)];

export type PersoRow = Pick<ContractWithClientRow, (typeof PERSO_FIELDS)[number] | (typeof CLIENT_FIELDS)[number]>;
export type PersoValues = unknown[];

/** Contracts read in one page, in id order. */
export interface PersoPage {
  /**
   * JSON arrays of PersoValues, PAGE_PART_ROWS at most each: texts below V8's large-object size
   * (128 KiB), which stay in the young generation and go with the next scavenge. A text as large as
   * a page would sit in the large-object space until a full collection, and they pile up over a claim.
   */
  parts: string[];
  count: number;
  /** the id of the last contract (where the next page starts) */
  lastId: number;
}

/** Rows per part of a PersoPage: keeps a part well below V8's large-object size, even when its names are not Latin-1. */
export const PAGE_PART_ROWS = 100;

/** The page of rows read by knex (SQLite and PostgreSQL make their JSON themselves: persoPartSqliteSql, persoRowJsonSql). */
export function persoPageOf(rows: PersoRow[]): PersoPage {
  const parts: string[] = [];
  for (let i = 0; i < rows.length; i += PAGE_PART_ROWS) parts.push(JSON.stringify(rows.slice(i, i + PAGE_PART_ROWS).map(persoValuesOf)));
  return { parts, count: rows.length, lastId: rows.length ? Number(rows[rows.length - 1]!.id) : 0 };
}

export function* persoValuesOfPage(page: PersoPage): Generator<PersoValues> {
  for (const part of page.parts) yield* JSON.parse(part) as PersoValues[];
}

/**
 * Each row of `subquery` (PERSO_COLUMNS_AS_NAMES, in id order) as the JSON array of its PersoValues,
 * which PostgreSQL makes itself (persoPageOfJson puts them together).
 */
export function persoRowJsonSql(subquery: string): string {
  return `select json_build_array(${FIELDS.map((f) => `s.${f}`).join(', ')})::text as json from (${subquery}) as s order by s.id`;
}

/** The PersoPage of the rows' JSON texts persoRowJsonSql selected, in order. */
export function persoPageOfJson(rows: string[]): PersoPage {
  const parts: string[] = [];
  for (let i = 0; i < rows.length; i += PAGE_PART_ROWS) parts.push(`[${rows.slice(i, i + PAGE_PART_ROWS).join(',')}]`);
  const last = rows[rows.length - 1];
  return { parts, count: rows.length, lastId: last === undefined ? 0 : Number((JSON.parse(last) as PersoValues)[0]) };
}

/**
 * One part of a PersoPage as SQLite makes it: the rows of `subquery` (PERSO_COLUMNS_AS_NAMES, in id
 * order, at most PAGE_PART_ROWS) as one JSON array, with their count and last id. A whole page in one
 * statement (a window numbering the parts) took SQLite twice as long; a text per row, as many strings.
 */
export function persoPartSqliteSql(subquery: string): string {
  return `select json_group_array(json_array(${FIELDS.map((f) => `s.${f}`).join(', ')}) order by s.id) as json,
    count(*) as count, max(s.id) as lastId from (${subquery}) as s`;
}

/** PERSO_COLUMNS, each as its bare name (`c.id as id`). */
export const PERSO_COLUMNS_AS_NAMES = PERSO_COLUMNS.map((c) => `${c} as ${c.slice(c.indexOf('.') + 1)}`);

/** The values of a row object, in PERSO_COLUMNS order. */
export function persoValuesOf(row: PersoRow): PersoValues {
  const record = row as unknown as Record<string, unknown>;
  return FIELDS.map((field) => record[field]);
}

/** The row object of PersoValues (written out: a literal of one shape is several times faster than a loop). */
export function persoRowOf(r: PersoValues): PersoRow {
  return {
    id: r[0], contract_number: r[1], plastic_id: r[2], pan_enc: r[3], pan_last4: r[4], plastic_seq: r[5], expiry: r[6],
    request_type: r[7], card_form: r[8], product_code: r[9], chip_profile: r[10], delivery_method: r[11], pin_mailer: r[12],
    embossed_name: r[13], title: r[14], first_name: r[15], last_name: r[16], company_name: r[17], address_line1: r[18],
    address_line2: r[19], address_line3: r[20], postal_code: r[21], city: r[22], country: r[23],
  } as PersoRow;
}
// persoRowOf follows PERSO_COLUMNS: checked once at load
if (Object.keys(persoRowOf(FIELDS.map((_, i) => i))).join() !== FIELDS.join()) throw new Error('persoRowOf does not follow PERSO_COLUMNS');

/**
 * The contract of a row, its PAN decrypted (in memory only) and checked to be this card's (its
 * contract and plastic id, its last four digits): PanIntegrityError otherwise.
 */
export function toPerso(row: PersoRow, cipher: PanCipher): ContractForPerso {
  const pan = cipher.decrypt(row.pan_enc, { contractNumber: row.contract_number, plasticId: row.plastic_id, panLast4: row.pan_last4 });
  return {
    id: Number(row.id), contractId: row.contract_number, plasticId: row.plastic_id, pan,
    psn: Number(row.plastic_seq), expiry: row.expiry, requestType: row.request_type, cardForm: row.card_form,
    title: row.title, firstName: row.first_name, lastName: row.last_name, companyName: row.company_name,
    addressLine1: row.address_line1, addressLine2: row.address_line2, addressLine3: row.address_line3,
    postalCode: row.postal_code, city: row.city, country: row.country, productCode: row.product_code,
    chipProfile: row.chip_profile, deliveryMethod: Number(row.delivery_method), pinMailer: row.pin_mailer,
    embossedName: row.embossed_name ?? undefined,
  };
}
