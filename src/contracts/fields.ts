import { REQUEST_TYPES, type CardFields, type RequestType } from '../domain/contract.js';
import { isProductionStatus, type ProductionStatus } from '../domain/contract-status.js';
import { maskPan } from '../security/mask.js';

/** A field that cannot be accepted, with its name; the message never carries a clear PAN. */
export class FieldError extends Error {
  override name = 'FieldError';
  constructor(readonly field: string, message: string) {
    super(`field ${field}: ${message}`);
  }
}

const TEXT_FIELDS = [
  'title', 'firstName', 'lastName', 'companyName', 'addressLine1', 'addressLine2', 'addressLine3', 'postalCode', 'city',
  'country', 'productCode', 'chipProfile',
] as const;
const TEXT_LIMITS: Record<(typeof TEXT_FIELDS)[number], number> = {
  title: 20, firstName: 100, lastName: 100, companyName: 100, addressLine1: 100, addressLine2: 100, addressLine3: 100,
  postalCode: 20, city: 100, country: 3, productCode: 10, chipProfile: 20,
};

/**
 * Checks the shape of one imported card (types, lengths that fit the database). Business rules
 * (Luhn, expiry in the future, what fits the embossing) belong to rendering, which marks a card
 * Invalid with a reason instead of refusing it here.
 */
export function parseCardInput(input: Record<string, unknown>): { card: CardFields; status: ProductionStatus } {
  const text = (field: string, max: number, required = false): string => {
    const raw = input[field];
    if (raw === undefined || raw === null || raw === '') {
      if (required) throw new FieldError(field, 'is required');
      return '';
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') throw new FieldError(field, 'must be text');
    const value = String(raw).trim();
    if ([...value].length > max) throw new FieldError(field, `is longer than ${max} characters`);
    return value;
  };
  const digits = (field: string, max: number): string => {
    const value = text(field, max, true);
    if (!/^\d+$/.test(value)) throw new FieldError(field, `must be 1–${max} digits`);
    return value;
  };
  const pan = text('pan', 23, true).replace(/[ -]/g, '');
  if (!/^\d{1,19}$/.test(pan)) throw new FieldError('pan', `must be digits (got ${maskPan(pan)}, ${pan.length} characters)`);
  const cardForm = text('cardForm', 10) || 'physical';
  if (cardForm !== 'physical' && cardForm !== 'virtual') throw new FieldError('cardForm', 'must be physical or virtual');
  const requestType = (text('requestType', 10) || 'NEW').toUpperCase();
  if (!(REQUEST_TYPES as readonly string[]).includes(requestType)) throw new FieldError('requestType', `must be one of ${REQUEST_TYPES.join(', ')}`);
  const psnText = text('psn', 3) || (cardForm === 'virtual' ? '1' : '2');
  if (!/^\d{1,3}$/.test(psnText)) throw new FieldError('psn', 'must be a number 0–999');
  const expiry = text('expiry', 4, true);
  if (!/^\d{4}$/.test(expiry)) throw new FieldError('expiry', 'must be YYMM (4 digits)');
  const delivery = text('deliveryMethod', 1) || '1';
  if (!/^[1-4]$/.test(delivery)) throw new FieldError('deliveryMethod', 'must be 1 post, 2 courier, 3 branch or 4 return to issuer');
  const pinMailer = (text('pinMailer', 1) || 'N').toUpperCase();
  if (pinMailer !== 'Y' && pinMailer !== 'N') throw new FieldError('pinMailer', 'must be Y or N');
  const status = text('productionStatus', 20) || 'Marked';
  if (!isProductionStatus(status)) throw new FieldError('productionStatus', `unknown status ${JSON.stringify(status)}`);
  const texts = Object.fromEntries(TEXT_FIELDS.map((f) => [f, text(f, TEXT_LIMITS[f], f === 'lastName' || f === 'productCode')]));
  const embossedName = text('embossedName', 100);
  return {
    status,
    card: {
      ...(texts as Record<(typeof TEXT_FIELDS)[number], string>),
      contractId: digits('contractId', 15),
      plasticId: digits('plasticId', 12),
      pan,
      psn: Number(psnText),
      expiry,
      requestType: requestType as RequestType,
      cardForm,
      deliveryMethod: Number(delivery),
      pinMailer,
      ...(embossedName ? { embossedName } : {}),
    },
  };
}
