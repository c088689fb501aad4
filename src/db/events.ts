import type { Knex } from 'knex';
import type { ProductionStatus } from '../domain/contract-status.js';
import { nowIso } from './connection.js';

/** contract_events: the audit trail, one row per status change of a contract. */
export interface ContractEventRow {
  id: number;
  /** card_contracts.id */
  contract_id: number;
  /** status before the change; null when the contract was created */
  from_status: ProductionStatus | null;
  to_status: ProductionStatus;
  /** what caused it: import, validation, batch, report, operator */
  source_kind: 'import' | 'validation' | 'batch' | 'report' | 'operator';
  /** perso_batches.id or bureau_reports.id, by source_kind */
  source_id: number | null;
  /** reason, shipment details… never a clear PAN */
  detail: string | null;
  created_at: string;
}

export type NewEvent = Omit<ContractEventRow, 'id' | 'created_at'>;

/** Appends events in chunks (SQLite takes at most ~999 bound values per statement). */
export async function recordEvents(trx: Knex | Knex.Transaction, events: NewEvent[], now = nowIso()): Promise<void> {
  const rows = events.map((e) => ({ ...e, created_at: now }));
  for (let i = 0; i < rows.length; i += 100) await trx('contract_events').insert(rows.slice(i, i + 100));
}

export async function eventsOf(db: Knex, contractId: number): Promise<ContractEventRow[]> {
  return db('contract_events').where({ contract_id: contractId }).orderBy('id');
}
