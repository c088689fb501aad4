import type { Knex } from 'knex';
import { upsertContract } from '../../src/db/contracts.js';
import type { CardFields } from '../../src/domain/contract.js';
import type { ProductionStatus } from '../../src/domain/status.js';
import type { PanCipher } from '../../src/security/pan.js';
import { makeCard } from '../helpers/cards.js';

/** Imports cards makeCard(from)…makeCard(from+count-1) as Marked (or `status`), with per-card overrides. */
export async function insertCards(
  db: Knex, cipher: PanCipher, from: number, count: number,
  overrides: (n: number) => Partial<CardFields> = () => ({}), status: ProductionStatus = 'Marked',
): Promise<void> {
  await db.transaction(async (trx) => {
    for (let n = from; n < from + count; n++) await upsertContract(trx, makeCard(n, overrides(n)), status, cipher);
  });
}

/** Empties the tables the send job writes, so that each test starts from no cards and no batches. */
export async function clearSendTables(db: Knex): Promise<void> {
  for (const table of ['contract_events', 'batch_items', 'card_contracts', 'perso_batches', 'clients', 'leases']) await db(table).delete();
}
