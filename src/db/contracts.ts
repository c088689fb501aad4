import type { Knex } from 'knex';
import { canonicalId, type CardFields, type CardForm, type RequestType } from '../domain/contract.js';
import { canTransition, type ProductionStatus } from '../domain/contract-status.js';
import type { PanCipher } from '../security/pan.js';
import { UNSENT_BATCH_FILE, unsentBatchHolding } from './unsent-batch.js';
import { dialectOf, insertReturningId, nowIso } from './connection.js';
import { recordEvents } from './events.js';

/** card_contracts: one card (plastic) of a contract and its production state. */
export interface ContractRow {
  id: number;
  /** card contract id, digits without leading zeros */
  contract_number: string;
  /** plastic id, digits without leading zeros */
  plastic_id: string;
  /** clients.id: holder name and delivery address */
  client_id: number;
  card_form: CardForm;
  /** plastic sequence number */
  plastic_seq: number;
  /** AES-256-GCM ciphertext bound to contract_number and plastic_id, see security/pan.ts */
  pan_enc: string;
  pan_last4: string;
  /** keyed hash of the PAN, for look-up without decrypting */
  pan_hmac: string;
  /** YYMM */
  expiry: string;
  request_type: RequestType;
  product_code: string;
  chip_profile: string;
  delivery_method: number;
  pin_mailer: 'Y' | 'N';
  /** override of emboss line 1 */
  embossed_name: string | null;
  production_status: ProductionStatus;
  /** perso_batches.id once claimed into a batch */
  batch_id: number | null;
  /** bureau reject code, or INVALID for our own validation */
  reject_code: string | null;
  /** why it was rejected or is invalid (PAN masked) */
  reject_reason: string | null;
  expected_ship_date: string | null;
  ship_date: string | null;
  courier: string | null;
  tracking_number: string | null;
  created_at: string;
  updated_at: string;
}

/** clients: the cardholder and delivery address. */
export interface ClientRow {
  id: number;
  title: string;
  first_name: string;
  last_name: string;
  company_name: string;
  address_line1: string;
  address_line2: string;
  address_line3: string;
  postal_code: string;
  city: string;
  country: string;
  created_at: string;
  updated_at: string;
}

function clientColumns(card: CardFields) {
  return {
    title: card.title, first_name: card.firstName, last_name: card.lastName, company_name: card.companyName,
    address_line1: card.addressLine1, address_line2: card.addressLine2, address_line3: card.addressLine3,
    postal_code: card.postalCode, city: card.city, country: card.country,
  };
}

/** The card's columns, its PAN encrypted and bound to `ids` (the row's contract number and plastic id). */
function contractColumns(card: CardFields, ids: { contract_number: string; plastic_id: string }, cipher: PanCipher) {
  const pan = cipher.encrypt(card.pan, { contractNumber: ids.contract_number, plasticId: ids.plastic_id });
  return {
    card_form: card.cardForm, plastic_seq: card.psn, pan_enc: pan.panEnc, pan_last4: pan.panLast4, pan_hmac: pan.panHmac,
    expiry: card.expiry, request_type: card.requestType, product_code: card.productCode, chip_profile: card.chipProfile,
    delivery_method: card.deliveryMethod, pin_mailer: card.pinMailer, embossed_name: card.embossedName ?? null,
  };
}

export type UpsertOutcome = { kind: 'inserted' | 'updated'; id: number } | { kind: 'refused'; reason: string };

/**
 * Inserts or updates a card by contract id + plastic id, in the caller's transaction. A card that is
 * in a batch (claimed, in production or shipped) is refused: its data is in a file or at the bureau.
 * With `importLine` (a line of `contracts import`): `now` is one time for every card of the import, and
 * a card already written at that time came from an earlier line of the same file: refused, so that of
 * two lines with different data for one card (two PANs, two addresses) neither silently replaces the
 * other; and the card's status may only move as the state machine lets it (not Rejected → Invalid).
 */
export async function upsertContract(
  trx: Knex.Transaction, card: CardFields, status: ProductionStatus, cipher: PanCipher, now = nowIso(), options: { importLine?: boolean } = {},
): Promise<UpsertOutcome> {
  const key = { contract_number: canonicalId(card.contractId), plastic_id: canonicalId(card.plasticId) };
  const read = trx('card_contracts').where(key).first();
  // locked before the in-flight check: a claim still open holds the row, so this waits for its commit
  // and then sees its items; unlocked, the check would pass and the update land on a card just put in
  // a file. SQLite has a single writer: a claim and an import never overlap there.
  if (dialectOf(trx) !== 'sqlite') read.forUpdate();
  const existing: ContractRow | undefined = await read;
  if (!existing) {
    const clientId = await insertReturningId(trx, 'clients', { ...clientColumns(card), created_at: now, updated_at: now });
    const id = await insertReturningId(trx, 'card_contracts', {
      ...key, ...contractColumns(card, key, cipher), client_id: clientId, production_status: status, created_at: now, updated_at: now,
    });
    await recordEvents(trx, [{ contract_id: id, from_status: null, to_status: status, source_kind: 'import', source_id: null, detail: null }], now);
    return { kind: 'inserted', id };
  }
  if (options.importLine && existing.updated_at === now) {
    return { kind: 'refused', reason: 'the same contractId and plasticId as an earlier line of this file: that line was imported, this one is not' };
  }
  const sending = await unsentBatchHolding(trx, existing.id);
  if (sending) return { kind: 'refused', reason: `contract is being sent in ${sending}; its data can no longer change` };
  if (existing.batch_id !== null && existing.production_status !== 'Rejected') {
    return { kind: 'refused', reason: `contract is ${existing.production_status} in batch ${existing.batch_id}; its data can no longer change` };
  }
  if (options.importLine && !canTransition(existing.production_status, status)) {
    return { kind: 'refused', reason: `contract is ${existing.production_status}: an import cannot make it ${status}` };
  }
  await trx('clients').where({ id: existing.client_id }).update({ ...clientColumns(card), updated_at: now });
  const reset = status === 'Marked' ? { batch_id: null, reject_code: null, reject_reason: null } : {};
  await trx('card_contracts').where({ id: existing.id })
    .update({ ...contractColumns(card, key, cipher), ...reset, production_status: status, updated_at: now });
  if (existing.production_status !== status) {
    await recordEvents(trx, [{ contract_id: existing.id, from_status: existing.production_status, to_status: status, source_kind: 'import', source_id: null, detail: null }], now);
  }
  return { kind: 'updated', id: existing.id };
}

/** Joined contract + client row, as read for rendering. */
export type ContractWithClientRow = ContractRow & Omit<ClientRow, 'id' | 'created_at' | 'updated_at'>;

export const CONTRACT_WITH_CLIENT_COLUMNS = [
  'c.*', 'cl.title', 'cl.first_name', 'cl.last_name', 'cl.company_name', 'cl.address_line1', 'cl.address_line2',
  'cl.address_line3', 'cl.postal_code', 'cl.city', 'cl.country',
];

/** What `contracts list` shows: no PAN beyond its last four digits (the first six are decrypted then masked). */
export interface ContractListing {
  id: number;
  contractNumber: string;
  plasticId: string;
  panEnc: string;
  panLast4: string;
  status: ProductionStatus;
  rejectCode: string | null;
  reason: string | null;
  batchFile: string | null;
  expectedShipDate: string | null;
  shipDate: string | null;
  courier: string | null;
  trackingNumber: string | null;
}

export async function listContracts(db: Knex, filter: { status?: ProductionStatus; limit?: number }): Promise<ContractListing[]> {
  const query = db('card_contracts as c')
    .leftJoin('perso_batches as b', 'b.id', 'c.batch_id')
    .select('c.id', 'c.contract_number', 'c.plastic_id', 'c.pan_enc', 'c.pan_last4', 'c.production_status', 'c.reject_code', 'c.reject_reason',
      'b.file_name', 'c.expected_ship_date', 'c.ship_date', 'c.courier', 'c.tracking_number', db.raw(`${UNSENT_BATCH_FILE} as sending_file`))
    .orderBy('c.id')
    .limit(filter.limit ?? 1000);
  if (filter.status) query.where('c.production_status', filter.status);
  const rows = await query;
  return rows.map((r: any) => ({
    id: Number(r.id), contractNumber: r.contract_number, plasticId: r.plastic_id, panEnc: r.pan_enc, panLast4: r.pan_last4, status: r.production_status,
    rejectCode: r.reject_code, reason: r.reject_reason, batchFile: r.sending_file ?? r.file_name, expectedShipDate: r.expected_ship_date,
    shipDate: r.ship_date, courier: r.courier, trackingNumber: r.tracking_number,
  }));
}

export async function countByStatus(db: Knex): Promise<Record<string, number>> {
  const rows: Array<{ production_status: ProductionStatus; n: number | string }> =
    await db('card_contracts').select('production_status').count({ n: '*' }).groupBy('production_status');
  return Object.fromEntries(rows.map((r) => [r.production_status, Number(r.n)]));
}
