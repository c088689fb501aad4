/** Production status of a card contract and the transitions allowed between them (docs/design.md). */
export const PRODUCTION_STATUSES = ['Marked', 'InProduction', 'Rejected', 'Shipped', 'Invalid'] as const;
export type ProductionStatus = (typeof PRODUCTION_STATUSES)[number];

const ALLOWED: Record<ProductionStatus, readonly ProductionStatus[]> = {
  Marked: ['InProduction', 'Invalid', 'Marked'],
  InProduction: ['Rejected', 'Shipped'],
  // expected shipment → actual shipment is a Shipped → Shipped update; a card only announced (an
  // expected date, no ship date) may still be rejected: the receive allows it only then
  Shipped: ['Shipped', 'Rejected'],
  // an operator (or a new import) may mark a rejected or invalid card again
  Rejected: ['Marked'],
  Invalid: ['Marked', 'Invalid'],
};

export function isProductionStatus(value: string): value is ProductionStatus {
  return (PRODUCTION_STATUSES as readonly string[]).includes(value);
}

export function canTransition(from: ProductionStatus, to: ProductionStatus): boolean {
  return ALLOWED[from].includes(to);
}

export class TransitionError extends Error {
  override name = 'TransitionError';
  constructor(readonly from: ProductionStatus, readonly to: ProductionStatus) {
    super(`transition ${from} → ${to} is not allowed`);
  }
}

export function assertTransition(from: ProductionStatus, to: ProductionStatus): void {
  if (!canTransition(from, to)) throw new TransitionError(from, to);
}
