import { canonicalId } from '../db/contracts.js';
import type { ContractForPerso } from '../domain/contract.js';
import { luhnValid, maskPan, maskPansInText } from '../security/mask.js';
import { isIsoAlpha3 } from './countries.js';
import { applyCharset, embossName, track1Name } from './emboss.js';
import { padded } from './layout.js';
import { CARD_SOURCES, type CardSource, type FieldSpec, type Layout } from './layout-types.js';

/** A contract after the embossing rules and checks: its detail fields, padded, ready to render. */
export interface PreparedCard {
  /** card_contracts.id */
  id: number;
  /** card contract id, canonical digits (for the hash total) */
  contractId: string;
  /**
   * The detail record as text, cut where the renderer inserts values known only per file or per
   * record (record sequence, file.*): one more segment than such fields.
   */
  segments: string[];
}

export type Prepared = { ok: true; card: PreparedCard } | { ok: false; field: string; reason: string };

/** Why one field cannot be rendered; `problem` never carries a clear PAN. */
class Unfit {
  constructor(readonly field: string, readonly problem: string) {}
}

/** How one detail field gets its value; a switch over these keeps every call site monomorphic (fast). */
const enum Step { Computed, Fixed, Digits, Pan, Expiry, Text, Country, Raw, EmbossName, Track1 }
interface FieldPlan {
  field: FieldSpec;
  step: Step;
  /** index into the card's raw values (CARD_SOURCES order) */
  source: number;
  /** contract and plastic ids lose leading zeros */
  canonical: boolean;
}
const plans = new WeakMap<Layout, FieldPlan[]>();

/**
 * Applies the embossing rules and checks one contract against the layout: physical card, PAN (12–19
 * digits, Luhn), expiry not before the business date's month, ISO 3166 alpha-3 country, required
 * fields, allowed values, every value fits its field. The first problem found makes it invalid, with
 * a reason naming the field (PAN masked). Pure: the same contract always prepares the same way.
 */
export function prepareCard(layout: Layout, contract: ContractForPerso, businessDate: string): Prepared {
  try {
    if (contract.cardForm !== 'physical') throw new Unfit('cardForm', `a ${contract.cardForm} card is never sent to the bureau`);
    const plan = planOf(layout);
    const raw = rawValues(contract);
    const segments: string[] = [];
    let text = '';
    for (let i = 0; i < plan.length; i++) {
      const step = plan[i]!;
      if (step.step === Step.Computed) {
        segments.push(text);
        text = '';
      } else if (step.step === Step.Fixed) text += step.field.value ?? padded(step.field, '');
      else text += finish(step.field, valueOf(step, raw, contract, businessDate));
    }
    segments.push(text);
    const contractId = canonicalId(raw[CONTRACT_ID]!.trim());
    if (!DIGITS_ONLY.test(contractId)) throw new Unfit('contractId', `${quote(contractId)} must be digits (the trailer's hash total adds contract ids)`);
    return { ok: true, card: { id: contract.id, contractId, segments } };
  } catch (err) {
    if (!(err instanceof Unfit)) throw err;
    return { ok: false, field: err.field, reason: `${err.field}: ${maskPansInText(err.problem)}` };
  }
}

function valueOf(plan: FieldPlan, raw: string[], contract: ContractForPerso, businessDate: string): string {
  const field = plan.field;
  switch (plan.step) {
    case Step.Digits: return digits(field, raw[plan.source]!, plan.canonical);
    case Step.Pan: return checkPan(field, raw[plan.source]!);
    case Step.Expiry: return checkExpiry(field, digits(field, raw[plan.source]!, false), businessDate);
    case Step.Text: return charsetApplied(field, raw[plan.source]!);
    case Step.Country: return checkCountry(field, charsetApplied(field, raw[plan.source]!));
    case Step.Raw: return raw[plan.source]!;
    case Step.EmbossName: return fitted(field, embossName(raw[FIRST_NAME]!, raw[LAST_NAME]!, contract.embossedName, field.length), 'the name');
    case Step.Track1: return fitted(field, track1Name(raw[FIRST_NAME]!, raw[LAST_NAME]!, field.length), 'the track-1 name');
    default: throw new Error(`no value for field ${field.name}`);
  }
}

function planOf(layout: Layout): FieldPlan[] {
  let plan = plans.get(layout);
  if (!plan) {
    plan = layout.detail.fields.map(planField);
    plans.set(layout, plan);
  }
  return plan;
}

function planField(field: FieldSpec): FieldPlan {
  const plan = (step: Step, source = -1): FieldPlan => ({ field, step, source, canonical: source === CONTRACT_ID || source === PLASTIC_ID });
  if (field.source === 'emboss.name') return plan(Step.EmbossName);
  if (field.source === 'emboss.track1') return plan(Step.Track1);
  if (field.type === 'constant' || field.type === 'filler') return plan(Step.Fixed);
  if (!field.source?.startsWith('card.')) return plan(Step.Computed);
  const name = field.source.slice(5) as CardSource;
  const source = CARD_SOURCES.indexOf(name);
  if (name === 'expiry') return plan(Step.Expiry, source);
  if (field.type === 'N') return plan(Step.Digits, source);
  if (name === 'pan') return plan(Step.Pan, source);
  if (name === 'country' && field.charset) return plan(Step.Country, source);
  return plan(field.charset ? Step.Text : Step.Raw, source);
}

const CONTRACT_ID = CARD_SOURCES.indexOf('contractId');
const PLASTIC_ID = CARD_SOURCES.indexOf('plasticId');
const FIRST_NAME = CARD_SOURCES.indexOf('firstName');
const LAST_NAME = CARD_SOURCES.indexOf('lastName');

/** The card's fields as text, in CARD_SOURCES order: named property reads, in one place. */
function rawValues(c: ContractForPerso): string[] {
  return [
    asText(c.contractId), asText(c.plasticId), asText(c.pan), asText(c.psn), asText(c.expiry), asText(c.requestType),
    asText(c.title), asText(c.firstName), asText(c.lastName), asText(c.companyName), asText(c.addressLine1),
    asText(c.addressLine2), asText(c.addressLine3), asText(c.postalCode), asText(c.city), asText(c.country),
    asText(c.productCode), asText(c.chipProfile), asText(c.deliveryMethod), asText(c.pinMailer),
  ];
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

function fitted(field: FieldSpec, value: string | undefined, what: string): string {
  if (value === undefined) throw new Unfit(field.name, `${what} does not fit ${field.length} characters even with given names as initials`);
  return value;
}

const DIGITS = /^\d*$/;
const DIGITS_ONLY = /^\d+$/;

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

function checkPan(field: FieldSpec, value: string): string {
  if (!value) return value;
  if (luhnValid(value) && value.length >= 12 && value.length <= 19) return value; // luhnValid is false for non-digits
  if (!/^\d+$/.test(value)) throw new Unfit(field.name, `PAN ${maskPan(value)} must be digits only`);
  if (value.length < 12 || value.length > 19) throw new Unfit(field.name, `PAN ${maskPan(value)} has ${value.length} digits; 12–19 expected`);
  throw new Unfit(field.name, `PAN ${maskPan(value)} fails the Luhn check`);
}

function checkExpiry(field: FieldSpec, value: string, businessDate: string): string {
  if (!value) return value;
  const month = Number(value.slice(2));
  if (value.length !== 4 || month < 1 || month > 12) throw new Unfit(field.name, `${quote(value)} is not an expiry YYMM`);
  const current = businessDate.slice(2, 4) + businessDate.slice(5, 7);
  if (value < current) throw new Unfit(field.name, `${value} (YYMM) is before the business date's month ${current}`);
  return value;
}

function checkCountry(field: FieldSpec, value: string): string {
  if (value && !isIsoAlpha3(value)) throw new Unfit(field.name, `${quote(value)} is not an ISO 3166 alpha-3 country code`);
  return value;
}

function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value);
}
