import type { Knex } from 'knex';

import { contractStory } from '../../src/db/contract-story.js';
import { NOT_IN_UNSENT_BATCH } from '../../src/db/unsent-batch.js';
import { upsertContract } from '../../src/db/contracts.js';
import { toPerso, type PersoPage } from '../../src/db/perso-rows.js';
import { screenPage, type PageVerdict } from '../../src/outbound/screen.js';
import type { Prepared } from '../../src/perso/index.js';
import type { CardFields, ContractForPerso } from '../../src/domain/contract.js';
import type { ProductionStatus } from '../../src/domain/contract-status.js';
import type { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';

/** The business date the send specs send for, and the name its first file gets. */
export const DATE = '2026-11-26';
export const FIRST_FILE = 'BXISSUER_PERSO_20261126_000001.dat.pgp';

/** Imports cards makeCard(from)…makeCard(from+count-1) as Marked (or `status`), with per-card overrides. */
export async function insertCards(
  db: Knex, cipher: PanCipher, from: number, count: number,
  overrides: (n: number) => Partial<CardFields> = () => ({}), status: ProductionStatus = 'Marked',
): Promise<void> {
  await db.transaction(async (trx) => {
    for (let n = from; n < from + count; n++) await upsertContract(trx, makeCard(n, overrides(n)), status, cipher);
  });
}

/** The contract numbers of the cards insertCards(db, cipher, from, count) imports, in order. */
export function contractNumbers(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => makeCard(from + i).contractId);
}

/**
 * The batch events of each card as its history tells them (`contracts show`): the file that made it
 * InProduction, one entry per time it did (sent batches hold no event row per card: migrations/007).
 */
export async function inProductionEvents(db: Knex): Promise<Map<string, string[]>> {
  const numbers: Array<{ contract_number: string }> = await db('card_contracts').distinct('contract_number').orderBy('contract_number');
  const events = new Map<string, string[]>();
  for (const { contract_number: number } of numbers) {
    for (const card of await contractStory(db, number)) {
      const files = card.events.filter((e) => e.to === 'InProduction').map((e) => `${e.from}>${e.source}:${e.sourceName}`);
      if (files.length) events.set(number, files);
    }
  }
  return events;
}

/** Empties the tables the send job writes, so that each test starts from no cards and no batches. */
export async function clearSendTables(db: Knex): Promise<void> {
  for (const table of ['contract_events', 'batch_items', 'card_contracts', 'perso_batches', 'clients', 'leases']) await db(table).delete();
  // PostgreSQL's ids of Marked cards (migrations/009): the confirm would forget those of deleted cards, a test starts without them
  if (await db.schema.hasTable('marked_contracts')) await db('marked_contracts').delete();
}

/** A claim's `screen` on this thread: each contract decrypted and judged by `validate`. */
export function screenWith(cipher: PanCipher, validate: (contract: ContractForPerso) => { ok: true } | { ok: false; field: string; reason: string }) {
  const prepared = (contract: ContractForPerso): Prepared => {
    const verdict = validate(contract);
    return verdict.ok ? { ok: true, card: { id: contract.id, contractId: contract.contractId, record: Buffer.alloc(0) } } : verdict;
  };
  return async (page: PersoPage): Promise<PageVerdict> => screenPage(page, cipher, prepared).verdict;
}

/** Every Marked contract free to claim, in id order, its PAN decrypted. */
export async function markedContracts(db: Knex, cipher: PanCipher): Promise<ContractForPerso[]> {
  const rows = await db('card_contracts as c').where({ production_status: 'Marked' }).whereRaw(NOT_IN_UNSENT_BATCH).orderBy('id').select('id');
  return Promise.all(rows.map(async ({ id }: { id: number }) => contractById(db, cipher, id)));
}

async function contractById(db: Knex, cipher: PanCipher, id: number): Promise<ContractForPerso> {
  const row = await db('card_contracts as c').join('clients as cl', 'cl.id', 'c.client_id').where('c.id', id).first();
  return toPerso(row, cipher);
}
