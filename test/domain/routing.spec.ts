import assert from 'node:assert/strict';
import fc from 'fast-check';
import { routeCard, ROUTING_KEYS, type RoutedCard, type Routing, type RoutingKey, type RoutingRule } from '../../src/domain/routing.js';

/** Small value sets, so that generated rules often match generated cards. */
const DOMAIN = {
  productCode: ['CLASSIC01', 'GOLD01', 'BIZ9'],
  country: ['DEU', 'FRA', 'GBR'],
  deliveryMethod: ['1', '2', '3', '4'],
  requestType: ['NEW', 'RENEW', 'REPLACE'],
} as const satisfies Record<RoutingKey, readonly string[]>;
const BUREAUS = ['BUREAU01', 'EMB01', 'THIRD'];

const card: fc.Arbitrary<RoutedCard> = fc.record({
  productCode: fc.constantFrom(...DOMAIN.productCode),
  country: fc.constantFrom(...DOMAIN.country),
  deliveryMethod: fc.constantFrom(1, 2, 3, 4),
  requestType: fc.constantFrom(...DOMAIN.requestType),
}) as fc.Arbitrary<RoutedCard>;

const when = fc.record(
  Object.fromEntries(ROUTING_KEYS.map((key) => [key, fc.subarray([...DOMAIN[key]], { minLength: 1 })])) as Record<RoutingKey, fc.Arbitrary<string[]>>,
  { requiredKeys: [] },
).filter((w) => Object.keys(w).length > 0);
const rule: fc.Arbitrary<RoutingRule> = fc.record({ bureau: fc.constantFrom(...BUREAUS), when });
const rules = fc.array(rule, { maxLength: 6 });
const defaultBureau = fc.option(fc.constantFrom(...BUREAUS), { nil: undefined });
const routing = (r: RoutingRule[], d: string | undefined): Routing => (d === undefined ? { rules: r } : { rules: r, default: d });

/** The rule a card's own values make: it matches that card, whatever else holds. */
const ruleFor = (c: RoutedCard, bureau: string, keys: RoutingKey[]): RoutingRule =>
  ({ bureau, when: Object.fromEntries(keys.map((k) => [k, [String(c[k])]])) });
/** A rule no card of the domain can match. */
const never = (bureau: string): RoutingRule => ({ bureau, when: { country: ['ZZZ'] } });

/** The rules as the configuration documents them, written out independently of the code. */
function oracle(c: RoutedCard, r: Routing): string | undefined {
  const hit = r.rules.find((x) => Object.entries(x.when).every(([k, vs]) => vs!.includes(String(c[k as RoutingKey]))));
  return hit?.bureau ?? r.default;
}

describe('domain/routing', () => {
  it('routes every card as the documented rules say (first match, else the default)', () => {
    fc.assert(fc.property(card, rules, defaultBureau, (c, r, d) => {
      const route = routeCard(c, routing(r, d));
      const expected = oracle(c, routing(r, d));
      if (expected === undefined) assert.equal(route.ok, false);
      else assert.deepEqual(route.ok && route.bureau, expected);
    }), { numRuns: 500 });
  });

  it('first match wins: a matching rule put first decides, whatever follows', () => {
    fc.assert(fc.property(card, rules, defaultBureau, fc.constantFrom(...BUREAUS), fc.subarray([...ROUTING_KEYS], { minLength: 1 }), (c, r, d, b, keys) => {
      assert.deepEqual(routeCard(c, routing([ruleFor(c, b, keys), ...r], d)), { ok: true, bureau: b, rule: 1 });
    }));
  });

  it('rules after the one that matched change nothing; a rule that cannot match changes nothing', () => {
    fc.assert(fc.property(card, rules, rules, defaultBureau, fc.nat(6), (c, r, more, d, at) => {
      const before = routeCard(c, routing(r, d));
      if (before.ok && before.rule !== undefined) assert.deepEqual(routeCard(c, routing([...r, ...more], d)), before);
      const withNever = [...r.slice(0, at), never('THIRD'), ...r.slice(at)];
      const after = routeCard(c, routing(withNever, d));
      assert.equal(after.ok && after.bureau, before.ok && before.bureau);
    }));
  });

  it('takes the default when no rule matches, and without one the card is Invalid with a reason naming the routing', () => {
    fc.assert(fc.property(card, fc.array(fc.constantFrom(...BUREAUS).map(never), { maxLength: 4 }), fc.constantFrom(...BUREAUS), (c, r, d) => {
      assert.deepEqual(routeCard(c, { rules: r, default: d }), { ok: true, bureau: d });
      const invalid = routeCard(c, { rules: r });
      assert.equal(invalid.ok, false);
      if (invalid.ok) return;
      assert.equal(invalid.field, 'routing');
      assert.match(invalid.reason, /^routing: no rule matches \(productCode "[A-Z0-9]+", country "[A-Z]{3}", deliveryMethod "\d", requestType "[A-Z]+"\) and the routing has no default bureau$/);
    }));
  });

  it('compares card values trimmed and in upper case (they are not cleaned yet when routed)', () => {
    fc.assert(fc.property(card, rules, defaultBureau, fc.constantFrom('', ' ', '  '), (c, r, d, pad) => {
      const messy = { ...c, productCode: `${pad}${c.productCode.toLowerCase()}${pad}`, country: c.country.toLowerCase(), requestType: `${c.requestType} ` as RoutedCard['requestType'] };
      assert.deepEqual(routeCard(messy, routing(r, d)), routeCard(c, routing(r, d)));
    }));
  });

  it('routes by each field alone', () => {
    const r: Routing = {
      rules: [
        { bureau: 'A', when: { productCode: ['GOLD01'] } },
        { bureau: 'B', when: { country: ['FRA', 'GBR'] } },
        { bureau: 'C', when: { deliveryMethod: ['4'] } },
        { bureau: 'D', when: { requestType: ['REPLACE'], country: ['DEU'] } },
      ],
    };
    const base: RoutedCard = { productCode: 'CLASSIC01', country: 'DEU', deliveryMethod: 1, requestType: 'NEW' };
    const to = (c: Partial<RoutedCard>) => {
      const route = routeCard({ ...base, ...c }, r);
      return route.ok ? `${route.bureau}#${route.rule}` : route.field;
    };
    assert.deepEqual(
      [to({ productCode: 'GOLD01', country: 'FRA' }), to({ country: 'GBR' }), to({ deliveryMethod: 4 }), to({ requestType: 'REPLACE' }), to({ requestType: 'REPLACE', country: 'ITA' }), to({})],
      ['A#1', 'B#2', 'C#3', 'D#4', 'routing', 'routing'],
    );
  });
});
