import type { Knex } from 'knex';
import { canonicalId } from '../domain/contract.js';
import type { ProductionStatus } from '../domain/contract-status.js';

/** One card (plastic) of a contract as `contracts show` tells it: its fields, events, files and reports. */
export interface CardStory {
  id: number;
  contractNumber: string;
  plasticId: string;
  /** for the caller to decrypt and mask: never shown as is */
  panEnc: string;
  panLast4: string;
  cardForm: string;
  plasticSeq: number;
  expiry: string;
  requestType: string;
  productCode: string;
  deliveryMethod: number;
  holder: string;
  city: string;
  country: string;
  status: ProductionStatus;
  rejectCode: string | null;
  reason: string | null;
  expectedShipDate: string | null;
  shipDate: string | null;
  courier: string | null;
  trackingNumber: string | null;
  createdAt: string;
  updatedAt: string;
  /** every status change, oldest first, with what caused it */
  events: Array<{ at: string; from: string | null; to: string; source: string; sourceId: number | null; sourceName: string | null; detail: string | null }>;
  /** the batch files that held the card (a claimed batch not sent yet too) */
  batches: Array<{ id: number; fileName: string; businessDate: string; state: string; recordNumber: number; sentAt: string | null }>;
  /** the reports that changed the card or named it in an anomaly */
  reports: Array<{ id: number; remoteName: string; state: string; reportDate: string | null; anomaly: string | null }>;
}

/** Every card of the contract (one per plastic), or none when the contract is unknown. */
export async function contractStory(db: Knex, contractId: string): Promise<CardStory[]> {
  const contractNumber = canonicalId(contractId);
  const cards: any[] = await db('card_contracts as c').join('clients as cl', 'cl.id', 'c.client_id')
    .where('c.contract_number', contractNumber).orderBy('c.plastic_id')
    .select('c.*', 'cl.first_name', 'cl.last_name', 'cl.company_name', 'cl.city', 'cl.country');
  return Promise.all(cards.map(async (c) => ({
    id: Number(c.id), contractNumber: c.contract_number, plasticId: c.plastic_id, panEnc: c.pan_enc, panLast4: c.pan_last4,
    cardForm: c.card_form, plasticSeq: Number(c.plastic_seq), expiry: c.expiry, requestType: c.request_type, productCode: c.product_code,
    deliveryMethod: Number(c.delivery_method), holder: [c.first_name, c.last_name].filter(Boolean).join(' ') || c.company_name,
    city: c.city, country: c.country, status: c.production_status, rejectCode: c.reject_code, reason: c.reject_reason,
    expectedShipDate: c.expected_ship_date, shipDate: c.ship_date, courier: c.courier, trackingNumber: c.tracking_number,
    createdAt: c.created_at, updatedAt: c.updated_at,
    events: await eventsWithSources(db, Number(c.id)),
    batches: await batchesOf(db, Number(c.id)),
    reports: await reportsOf(db, Number(c.id), c.contract_number, c.plastic_id),
  })));
}

async function eventsWithSources(db: Knex, contractId: number): Promise<CardStory['events']> {
  const rows: any[] = await db('contract_events as e')
    .leftJoin('perso_batches as b', function () { this.on('b.id', 'e.source_id').andOnVal('e.source_kind', 'batch'); })
    .leftJoin('bureau_reports as r', function () { this.on('r.id', 'e.source_id').andOnVal('e.source_kind', 'report'); })
    .where('e.contract_id', contractId).orderBy('e.id')
    .select('e.*', 'b.file_name', 'r.remote_name');
  const events = rows.map((e) => ({
    order: Number(e.id), at: e.created_at, from: e.from_status, to: e.to_status, source: e.source_kind,
    sourceId: e.source_id === null ? null : Number(e.source_id), sourceName: e.file_name ?? e.remote_name ?? null, detail: e.detail,
  }));
  // a batch sent since migration 007 has no event row per card: it is the event, after the events_before-th row
  const sent: any[] = await db('batch_items as i').join('perso_batches as b', 'b.id', 'i.batch_id')
    .where({ 'i.contract_id': contractId, 'b.state': 'sent' }).whereNotNull('b.events_before')
    .select('b.id', 'b.file_name', 'b.sent_at', 'b.events_before');
  for (const b of sent) {
    events.push({ order: Number(b.events_before) + 0.5, at: b.sent_at, from: 'Marked', to: 'InProduction', source: 'batch', sourceId: Number(b.id), sourceName: b.file_name, detail: null });
  }
  return events.sort((a, b) => a.order - b.order).map(({ order: _, ...event }) => event);
}

async function batchesOf(db: Knex, contractId: number): Promise<CardStory['batches']> {
  const rows: any[] = await db('batch_items as i').join('perso_batches as b', 'b.id', 'i.batch_id')
    .where('i.contract_id', contractId).orderBy('b.id')
    .select('b.id', 'b.file_name', 'b.business_date', 'b.state', 'i.record_number', 'b.sent_at');
  return rows.map((b) => ({ id: Number(b.id), fileName: b.file_name, businessDate: b.business_date, state: b.state, recordNumber: Number(b.record_number), sentAt: b.sent_at }));
}

async function reportsOf(db: Knex, contractId: number, contractNumber: string, plasticId: string): Promise<CardStory['reports']> {
  const changed: any[] = await db('contract_events as e').join('bureau_reports as r', 'r.id', 'e.source_id')
    .where({ 'e.contract_id': contractId, 'e.source_kind': 'report' }).distinct('r.id', 'r.remote_name', 'r.state', 'r.report_date');
  const named: any[] = await db('report_anomalies as a').join('bureau_reports as r', 'r.id', 'a.report_id')
    .where({ 'a.contract_number': contractNumber }).andWhere((q) => q.where('a.plastic_id', plasticId).orWhereNull('a.plastic_id'))
    .select('r.id', 'r.remote_name', 'r.state', 'r.report_date', 'a.reason');
  const reports = [
    ...changed.map((r) => ({ id: Number(r.id), remoteName: r.remote_name, state: r.state, reportDate: r.report_date, anomaly: null })),
    ...named.map((r) => ({ id: Number(r.id), remoteName: r.remote_name, state: r.state, reportDate: r.report_date, anomaly: r.reason as string })),
  ];
  return reports.sort((a, b) => a.id - b.id);
}
