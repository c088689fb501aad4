import { REQUEST_TYPES, type CardFields, type RequestType } from '../domain/contract.js';
import { isProductionStatus, type ProductionStatus } from '../domain/contract-status.js';
import { maskPan, maskPansInText } from '../security/mask.js';

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

/** Every field a card may have, as named in JSON Lines and in a CSV header. */
export const CARD_FIELDS: readonly string[] = [
  'contractId', 'plasticId', 'pan', 'psn', 'expiry', 'requestType', 'cardForm', 'deliveryMethod', 'pinMailer',
  'productionStatus', 'embossedName', ...TEXT_FIELDS,
];
/** The fields a card cannot be imported without (a CSV header lacking one is refused whole). */
export const REQUIRED_FIELDS: readonly string[] = ['contractId', 'plasticId', 'pan', 'expiry', 'lastName', 'productCode'];
const KNOWN = new Set(CARD_FIELDS);

/** The statuses an import may give a card: to produce it, or not. */
export const IMPORTABLE_STATUSES: readonly ProductionStatus[] = ['Marked', 'Invalid'];

/** How far ahead an expiry may lie: no card is issued for longer, so a later one is a typo (2099). */
export const MAX_EXPIRY_YEARS_AHEAD = 10;

/**
 * Checks the shape of one imported card (types, lengths that fit the database, a field name it does
 * not know, an expiry no card can have). Business rules (Luhn, expiry not yet passed, what fits the
 * embossing) belong to rendering, which marks a card Invalid with a reason instead of refusing it
 * here: the card may well be valid today and expire before its send. `now` is the import's clock.
 */
export function parseCardInput(input: Record<string, unknown>, now = new Date()): { card: CardFields; status: ProductionStatus } {
  checkFieldNames(Object.keys(input));
  const text = (field: string, max: number, required = false): string => {
    const raw = input[field];
    if (raw === undefined || raw === null || raw === '') {
      if (required) throw new FieldError(field, 'is required');
      return '';
    }
    if (typeof raw !== 'string' && typeof raw !== 'number') throw new FieldError(field, 'must be text');
    // JSON.parse has already rounded a larger integer (a 19-digit PAN): its digits are lost
    if (Number.isInteger(raw) && !Number.isSafeInteger(raw)) throw new FieldError(field, 'is a number too large for JSON to keep its digits: quote it');
    const value = String(raw).trim();
    if ([...value].length > max) throw new FieldError(field, `is longer than ${max} characters`);
    checkCharacters(field, value);
    return value;
  };
  // a PAN typed into a name or address would be stored, shown and embossed in clear
  const freeText = (field: string, max: number, required = false): string => {
    const value = text(field, max, required);
    if (maskPansInText(value) !== value) throw new FieldError(field, 'holds a card number (PAN): it belongs in the pan field only');
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
  checkExpiry(expiry, now);
  const delivery = text('deliveryMethod', 1) || '1';
  if (!/^[1-4]$/.test(delivery)) throw new FieldError('deliveryMethod', 'must be 1 post, 2 courier, 3 branch or 4 return to issuer');
  const pinMailer = (text('pinMailer', 1) || 'N').toUpperCase();
  if (pinMailer !== 'Y' && pinMailer !== 'N') throw new FieldError('pinMailer', 'must be Y or N');
  const status = text('productionStatus', 20) || 'Marked';
  if (!isProductionStatus(status)) throw new FieldError('productionStatus', `unknown status ${JSON.stringify(status)}`);
  // the other statuses are the send's and the bureau's: a card imported InProduction or Shipped is in
  // no batch, so it would never be sent and never be answered for, a card order lost without a trace
  if (!IMPORTABLE_STATUSES.includes(status)) {
    throw new FieldError('productionStatus', `${status} is set by the send and the bureau's reports: a card is imported as Marked (to produce) or Invalid (not to)`);
  }
  const texts = Object.fromEntries(TEXT_FIELDS.map((f) => [f, freeText(f, TEXT_LIMITS[f], f === 'lastName' || f === 'productCode')]));
  const embossedName = freeText('embossedName', 100);
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

/**
 * A field name the import does not know is refused, never dropped: a typo (`embosedName`) would
 * otherwise import the card without that data, silently.
 */
export function checkFieldNames(names: readonly string[]): void {
  for (const name of names) {
    if (!KNOWN.has(name)) throw new FieldError(quoteInput(name), `is not a card field${suggestion(name)}; the fields are listed in docs/commands.md`);
  }
}

/** ", did you mean X?" for a name one or two edits (or a letter case) away from a known field. */
function suggestion(name: string): string {
  const lower = name.toLowerCase();
  const close = CARD_FIELDS.find((f) => f.toLowerCase() === lower) ?? CARD_FIELDS.find((f) => editDistance(f.toLowerCase(), lower, 2) <= 2);
  return close ? ` (did you mean ${close}?)` : '';
}

/** Levenshtein distance, given up past `limit` (a long hostile name costs nothing). */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** YYMM (20YY), a month 01–12, at most MAX_EXPIRY_YEARS_AHEAD years after the import's month. */
function checkExpiry(expiry: string, now: Date): void {
  const month = Number(expiry.slice(2));
  if (!/^\d{4}$/.test(expiry) || month < 1 || month > 12) throw new FieldError('expiry', `must be YYMM, a month 01–12 (got ${quoteInput(expiry)})`);
  const ahead = (2000 + Number(expiry.slice(0, 2)) - now.getUTCFullYear()) * 12 + month - (now.getUTCMonth() + 1);
  if (ahead > MAX_EXPIRY_YEARS_AHEAD * 12) {
    throw new FieldError('expiry', `${expiry} is more than ${MAX_EXPIRY_YEARS_AHEAD} years ahead (20${expiry.slice(0, 2)}): no card is issued for that long`);
  }
}

/**
 * Input quoted in a message that reaches a terminal and the logs: cut to 40 characters, with every
 * control, bidirectional-override and line-separator character written as \uXXXX (JSON.stringify
 * leaves C1 controls such as U+009B, a terminal's CSI, as they are). A PAN is masked before the cut,
 * which could otherwise leave 15 of its digits, too few to be recognised as a PAN afterwards.
 */
export function quoteInput(text: string): string {
  const value = maskPansInText(text);
  const cut = [...value].length > 40 ? [...value].slice(0, 40).join('') + '…' : value;
  return JSON.stringify(cut).replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
const UNPRINTABLE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

// C0 and C1 controls: NUL, which PostgreSQL refuses in text (the chunk's insert would fail), ESC and
// the like, which `contracts show` would print to a terminal; tab and line breaks are left to the
// emboss rules, which make them spaces. Halves of a surrogate pair: no database stores them as given.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Refuses characters no card field may hold, so one such line never fails its chunk's insert. */
function checkCharacters(field: string, value: string): void {
  // U+FFFD is what a byte that is not UTF-8 (a Latin-1 'ü') was decoded to: the original is lost
  if (value.includes('\ufffd')) throw new FieldError(field, 'is not UTF-8 text (the file must be UTF-8)');
  const control = CONTROL.exec(value);
  if (control) throw new FieldError(field, `holds the control character U+${control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`);
  if (LONE_SURROGATE.test(value)) throw new FieldError(field, 'holds half of a UTF-16 surrogate pair (not a character)');
}
