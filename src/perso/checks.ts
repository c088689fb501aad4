import { canonicalId } from '../domain/contract.js';
import { luhnValid, maskPan } from '../security/mask.js';
import { isIsoAlpha3 } from './countries.js';
import { applyCharset } from './emboss.js';
import type { FieldSpec } from './layout-types.js';

/** Why one field of a card cannot be rendered; `problem` never carries a clear PAN. */
export class Unfit {
  constructor(readonly field: string, readonly problem: string) {}
}

const DIGITS = /^\d*$/;

/** Digits only (surrounding spaces tolerated); ids longer than their field lose leading zeros. */
export function digitsOf(field: FieldSpec, value: string): string {
  if (!DIGITS.test(value)) {
    const trimmed = value.trim();
    if (!DIGITS.test(trimmed)) throw new Unfit(field.name, `${quote(trimmed)} must be digits only`);
    value = trimmed;
  }
  return value.length > field.length ? canonicalId(value) : value;
}

/** A field's charset applied (names, addresses, codes); a code with foreign characters is refused. */
export function charsetApplied(field: FieldSpec, value: string): string {
  const result = applyCharset(value, field.charset!);
  if (result === undefined) throw new Unfit(field.name, `${quote(value)} may hold only A-Z 0-9 space . / -`);
  return result;
}

/** Required, allowed values and length: the checks every card field gets. */
export function checkFits(field: FieldSpec, value: string): string {
  if (!value) {
    if (field.required) throw new Unfit(field.name, 'is required but empty after the embossing rules');
    return value;
  }
  if (field.values && !field.values.includes(value)) throw new Unfit(field.name, `${quote(value)} is not one of ${field.values.join(', ')}`);
  if (value.length > field.length) {
    throw new Unfit(field.name, `${quote(value)} is ${value.length} characters after the embossing rules; the field holds ${field.length}`);
  }
  return value;
}

/** A shortened name, or the reason it cannot be. */
export function fitted(field: FieldSpec, value: string | undefined, what: string): string {
  if (value === undefined) throw new Unfit(field.name, `${what} does not fit ${field.length} characters even with given names as initials`);
  return value;
}

export function checkPan(field: FieldSpec, value: string): string {
  if (!value) return value;
  if (luhnValid(value) && value.length >= 12 && value.length <= 19) return value; // luhnValid is false for non-digits
  if (!/^\d+$/.test(value)) throw new Unfit(field.name, `PAN ${maskPan(value)} must be digits only`);
  if (value.length < 12 || value.length > 19) throw new Unfit(field.name, `PAN ${maskPan(value)} has ${value.length} digits; 12–19 expected`);
  throw new Unfit(field.name, `PAN ${maskPan(value)} fails the Luhn check`);
}

/** YYMM, a real month, not before the business date's month. */
export function checkExpiry(field: FieldSpec, value: string, businessDate: string): string {
  if (!value) return value;
  const month = Number(value.slice(2));
  if (value.length !== 4 || month < 1 || month > 12) throw new Unfit(field.name, `${quote(value)} is not an expiry YYMM`);
  const current = businessDate.slice(2, 4) + businessDate.slice(5, 7);
  if (value < current) throw new Unfit(field.name, `${value} (YYMM) is before the business date's month ${current}`);
  return value;
}

export function checkCountry(field: FieldSpec, value: string): string {
  if (value && !isIsoAlpha3(value)) throw new Unfit(field.name, `${quote(value)} is not an ISO 3166 alpha-3 country code`);
  return value;
}

export function quote(value: string): string {
  return JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value);
}
