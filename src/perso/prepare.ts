import { canonicalId } from '../db/contracts.js';
import type { ContractForPerso } from '../domain/contract.js';
import { luhnValid, maskPan, maskPansInText } from '../security/mask.js';
import { isIsoAlpha3 } from './countries.js';
import { applyCharset, embossName, track1Name } from './emboss.js';
import { padded } from './layout.js';
import type { CardSource, FieldSpec, Layout } from './layout-types.js';

/** A contract after the embossing rules and checks: its detail fields, padded, ready to render. */
export interface PreparedCard {
  /** card_contracts.id */
  id: number;
  /** card contract id, canonical digits (for the hash total) */
  contractId: string;
  /** per detail field (layout order): the padded value, or undefined for values computed at render time */
  values: Array<string | undefined>;
}

export type Prepared = { ok: true; card: PreparedCard } | { ok: false; field: string; reason: string };

/** Why one field cannot be rendered; `problem` never carries a clear PAN. */
class Unfit {
  constructor(readonly field: string, readonly problem: string) {}
}

type FieldValue = (contract: ContractForPerso, businessDate: string) => string;
const compiled = new WeakMap<Layout, Array<FieldValue | undefined>>();

/**
 * Applies the embossing rules and checks one contract against the layout: physical card, PAN (12–19
 * digits, Luhn), expiry not before the business date's month, ISO 3166 alpha-3 country, required
 * fields, allowed values, every value fits its field. The first problem found makes it invalid, with
 * a reason naming the field (PAN masked). Pure: the same contract always prepares the same way.
 */
export function prepareCard(layout: Layout, contract: ContractForPerso, businessDate: string): Prepared {
  try {
    if (contract.cardForm !== 'physical') throw new Unfit('cardForm', `a ${contract.cardForm} card is never sent to the bureau`);
    const fields = fieldValuesOf(layout);
    const values = new Array<string | undefined>(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const value = fields[i];
      if (value) values[i] = value(contract, businessDate);
    }
    return { ok: true, card: { id: contract.id, contractId: canonicalId(String(contract.contractId)), values } };
  } catch (err) {
    if (!(err instanceof Unfit)) throw err;
    return { ok: false, field: err.field, reason: `${err.field}: ${maskPansInText(err.problem)}` };
  }
}

function fieldValuesOf(layout: Layout): Array<FieldValue | undefined> {
  let fields = compiled.get(layout);
  if (!fields) {
    fields = layout.detail.fields.map(compileField);
    compiled.set(layout, fields);
  }
  return fields;
}

/** The function giving a card-dependent field its padded value (undefined for computed fields). */
function compileField(field: FieldSpec): FieldValue | undefined {
  const source = field.source;
  if (source === 'emboss.name') {
    return (c) => finish(field, fitted(field, embossName(asText(c.firstName), asText(c.lastName), c.embossedName, field.length), 'the name'));
  }
  if (source === 'emboss.track1') {
    return (c) => finish(field, fitted(field, track1Name(asText(c.firstName), asText(c.lastName), field.length), 'the track-1 name'));
  }
  if (!source?.startsWith('card.')) return undefined;
  const name = source.slice(5) as CardSource;
  const check = SOURCE_CHECKS[name];
  const get = CARD_GETTERS[name];
  const canonical = name === 'contractId' || name === 'plasticId';
  if (field.type === 'N') {
    return (c, businessDate) => {
      const value = digits(field, asText(get(c)), canonical);
      if (check && value) check(field, value, businessDate);
      return finish(field, value);
    };
  }
  if (!field.charset) {
    return (c, businessDate) => {
      const value = asText(get(c));
      if (check && value) check(field, value, businessDate);
      return finish(field, value);
    };
  }
  return (c, businessDate) => {
    const value = charsetApplied(field, asText(get(c)));
    if (check && value) check(field, value, businessDate);
    return finish(field, value);
  };
}

function outcomeOf(compute: () => string): string | Unfit {
  try {
    return compute();
  } catch (err) {
    if (err instanceof Unfit) return err;
    throw err;
  }
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

function fitted(field: FieldSpec, value: string | undefined, what: string): string {
  if (value === undefined) throw new Unfit(field.name, `${what} does not fit ${field.length} characters even with given names as initials`);
  return value;
}

const DIGITS = /^\d*$/;

function digits(field: FieldSpec, value: string, canonical: boolean): string {
  if (!DIGITS.test(value)) {
    const trimmed = value.trim();
    if (!DIGITS.test(trimmed)) throw new Unfit(field.name, `${quote(trimmed)} must be digits only`);
    value = trimmed;
  }
  return canonical && value.charCodeAt(0) === 48 ? canonicalId(value) : value;
}

function charsetApplied(field: FieldSpec, value: string): string {
  const result = applyCharset(value, field.charset!);
  if (result === undefined) throw new Unfit(field.name, `${quote(value)} may hold only A-Z 0-9 space . / -`);
  return result;
}

/** Required, allowed values and length: the checks every field gets. Returns the padded value. */
function finish(field: FieldSpec, value: string): string {
  if (!value) {
    if (field.required) throw new Unfit(field.name, 'is required but empty after the embossing rules');
    return padded(field, '');
  }
  if (field.values && !field.values.includes(value)) throw new Unfit(field.name, `${quote(value)} is not one of ${field.values.join(', ')}`);
  if (value.length > field.length) {
    throw new Unfit(field.name, `${quote(value)} is ${value.length} characters after the embossing rules; the field holds ${field.length}`);
  }
  return padded(field, value);
}

/** One getter per card field: a named property read stays fast where `c[name]` would not. */
const CARD_GETTERS: Record<CardSource, (c: ContractForPerso) => unknown> = {
  contractId: (c) => c.contractId, plasticId: (c) => c.plasticId, pan: (c) => c.pan, psn: (c) => c.psn, expiry: (c) => c.expiry,
  requestType: (c) => c.requestType, title: (c) => c.title, firstName: (c) => c.firstName, lastName: (c) => c.lastName,
  companyName: (c) => c.companyName, addressLine1: (c) => c.addressLine1, addressLine2: (c) => c.addressLine2,
  addressLine3: (c) => c.addressLine3, postalCode: (c) => c.postalCode, city: (c) => c.city, country: (c) => c.country,
  productCode: (c) => c.productCode, chipProfile: (c) => c.chipProfile, deliveryMethod: (c) => c.deliveryMethod,
  pinMailer: (c) => c.pinMailer,
};

type SourceCheck = (field: FieldSpec, value: string, businessDate: string) => void;

const SOURCE_CHECKS: Partial<Record<CardSource, SourceCheck>> = {
  pan(field, value) {
    if (!/^\d+$/.test(value)) throw new Unfit(field.name, `PAN ${maskPan(value)} must be digits only`);
    if (value.length < 12 || value.length > 19) throw new Unfit(field.name, `PAN ${maskPan(value)} has ${value.length} digits; 12–19 expected`);
    if (!luhnValid(value)) throw new Unfit(field.name, `PAN ${maskPan(value)} fails the Luhn check`);
  },
  expiry(field, value, businessDate) {
    const month = Number(value.slice(2));
    if (!/^\d{4}$/.test(value) || month < 1 || month > 12) throw new Unfit(field.name, `${quote(value)} is not an expiry YYMM`);
    const current = businessDate.slice(2, 4) + businessDate.slice(5, 7);
    if (value < current) throw new Unfit(field.name, `${value} (YYMM) is before the business date's month ${current}`);
  },
  country(field, value) {
    if (!isIsoAlpha3(value)) throw new Unfit(field.name, `${quote(value)} is not an ISO 3166 alpha-3 country code`);
  },
};

function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value);
}
