import type { CardFields } from './contract.js';

/**
 * Which bureau makes a card: rules on the card's data, tried in order, the first that matches wins;
 * a card no rule matches goes to the default, and without a default it is Invalid (field `routing`),
 * never sent to a bureau by guess. Pure: the same card and rules always give the same bureau.
 */

/** The card fields a rule may look at. */
export const ROUTING_KEYS = ['productCode', 'country', 'deliveryMethod', 'requestType'] as const;
export type RoutingKey = (typeof ROUTING_KEYS)[number];

export interface RoutingRule {
  /** the bureau code the matching cards go to */
  bureau: string;
  /** per field, the values that match (any of them); every field given must match. Upper case, trimmed. */
  when: Partial<Record<RoutingKey, readonly string[]>>;
}

export interface Routing {
  rules: readonly RoutingRule[];
  /** the bureau of a card no rule matches; none: such a card is Invalid */
  default?: string;
}

export type Route =
  | { ok: true; bureau: string; /** 1-based number of the rule that matched; absent for the default */ rule?: number }
  | { ok: false; field: 'routing'; reason: string };

export type RoutedCard = Pick<CardFields, RoutingKey>;

export function routeCard(card: RoutedCard, routing: Routing): Route {
  const values = routingValues(card);
  for (let i = 0; i < routing.rules.length; i++) {
    const rule = routing.rules[i]!;
    if (matches(rule, values)) return { ok: true, bureau: rule.bureau, rule: i + 1 };
  }
  if (routing.default !== undefined) return { ok: true, bureau: routing.default };
  const shown = ROUTING_KEYS.map((key) => `${key} ${JSON.stringify(values[key])}`).join(', ');
  return { ok: false, field: 'routing', reason: `routing: no rule matches (${shown}) and the routing has no default bureau` };
}

/** A value as rules compare it: text, trimmed, upper case (card data is not cleaned yet when routed). */
export function routingValue(value: unknown): string {
  return (typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value)).trim().toUpperCase();
}

function routingValues(card: RoutedCard): Record<RoutingKey, string> {
  return {
    productCode: routingValue(card.productCode),
    country: routingValue(card.country),
    deliveryMethod: routingValue(card.deliveryMethod),
    requestType: routingValue(card.requestType),
  };
}

function matches(rule: RoutingRule, values: Record<RoutingKey, string>): boolean {
  for (const key of ROUTING_KEYS) {
    const allowed = rule.when[key];
    if (allowed !== undefined && !allowed.includes(values[key])) return false;
  }
  return true;
}
