import type { Readable } from 'node:stream';
import type { ContractForPerso } from '../../src/domain/contract.js';
import type { FileContext } from '../../src/perso/index.js';
import { makeCard } from '../helpers/cards.js';

/** A contract for rendering: makeCard(n) with a row id. */
export function contract(n: number, overrides: Partial<ContractForPerso> = {}): ContractForPerso {
  return { id: n, ...makeCard(n), ...overrides };
}

export const BUSINESS_DATE = '2026-11-26';

export function fileContext(overrides: Partial<FileContext> = {}): FileContext {
  return {
    issuerCode: 'BXISSUER', bureauCode: 'BUREAU01', businessDate: BUSINESS_DATE, sequence: 7,
    createdAt: new Date('2026-11-26T16:05:09.123Z'), environment: 'T', lineEnding: 'LF', ...overrides,
  };
}

/** The fixed contracts of the golden file: plain, accented, long names, override, company, other scripts. */
export function goldenContracts(): ContractForPerso[] {
  return [
    contract(1),
    contract(2, { title: 'Frau', firstName: 'Jürgen Øystein', lastName: 'Müller-Straße', addressLine1: 'Königsallee 12', city: 'Düsseldorf', companyName: 'Bäckerei Größe & Söhne' }),
    contract(3, { firstName: 'John Jacob Jingleheimer', lastName: 'Schmidtington-Smythe', embossedName: undefined, deliveryMethod: 2, pinMailer: 'N' }),
    contract(4, { firstName: 'Иван', lastName: 'Петров', city: 'Москва', country: 'RUS', addressLine1: 'ул. Тверская 7', requestType: 'REISSUE', psn: 3 }),
    contract(5, { embossedName: 'Dr. Ana Núñez', firstName: 'Ana María', lastName: "O'Núñez", addressLine2: 'Apt #4', addressLine3: 'c/o Łukasz', postalCode: 'SW1A 1AA', country: 'gbr', chipProfile: '', requestType: 'REPLACE' }),
    contract(6, { contractId: '999999999999999', plasticId: '999999999999', pan: '6011000990139424', expiry: '2611', firstName: 'Γιώργος', lastName: 'Παπαδόπουλος', country: 'GRC', deliveryMethod: 4, productCode: 'gold02', requestType: 'RENEW' }),
    contract(7, { pan: '378282246310005', firstName: 'Zoë  Åsa', lastName: '  de la Cruz ', addressLine1: '1\t2  Rue   de  l’Église', city: 'Saint-Étienne', country: 'FRA', requestType: 'REPRINT', deliveryMethod: 3 }),
  ];
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The detail record `D` of the interface document (perso-v1), field by field: length and type, in
 * order. Written out here from the document, not read from the layout file, so that a test built on
 * it checks the code against the interface and not against itself.
 */
const DETAIL_FIELDS: Array<[name: string, length: number, type: 'N' | 'AN']> = [
  ['recordType', 1, 'AN'], ['recordSequence', 7, 'N'], ['contractId', 15, 'N'], ['plasticId', 12, 'N'], ['pan', 19, 'AN'],
  ['psn', 3, 'N'], ['expiry', 4, 'N'], ['requestType', 10, 'AN'], ['embossLine1', 26, 'AN'], ['embossLine2', 26, 'AN'],
  ['track1Name', 26, 'AN'], ['title', 4, 'AN'], ['firstName', 30, 'AN'], ['lastName', 30, 'AN'], ['addressLine1', 40, 'AN'],
  ['addressLine2', 40, 'AN'], ['addressLine3', 40, 'AN'], ['postalCode', 10, 'AN'], ['city', 30, 'AN'], ['country', 3, 'AN'],
  ['productCode', 10, 'AN'], ['chipProfile', 20, 'AN'], ['deliveryMethod', 1, 'N'], ['pinMailer', 1, 'AN'], ['filler', 42, 'AN'],
];

export type DetailValues = Record<Exclude<(typeof DETAIL_FIELDS)[number][0], 'recordType' | 'filler'>, string>;

/** A 450-byte detail record from literal values: `N` right-aligned zero-padded, `AN` left-aligned space-padded. */
export function detailRecord(values: DetailValues): string {
  const all: Record<string, string> = { recordType: 'D', filler: '', ...values };
  const line = DETAIL_FIELDS.map(([name, length, type]) => {
    const value = all[name]!;
    if (value.length > length) throw new Error(`test value for ${name} is longer than ${length}`);
    return type === 'N' ? value.padStart(length, '0') : value.padEnd(length, ' ');
  }).join('');
  if (line.length !== 450) throw new Error(`detail record of ${line.length} bytes`);
  return line;
}

/** A small deterministic generator, so a failing case is the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const PIECES = [
  'Anna', 'Jürgen', 'Øystein', 'ß', 'Ł', 'e\u0301', 'Z\u0351\u0308\u0323a\u036b\u0330l\u0352go', '😀', '👩‍👩‍👧', '\u200f', '\u202e',
  'שלום', 'مرحبا', 'Иван', 'Γιώργος', '北京', '東京', '\t', '\n', '  ', '\u0000', '\u00a0', "O'Neil", 'Smith-Jones', '&', '#', '%$@!',
  'Wolfeschlegelsteinhausenbergerdorff', 'ﬁ', 'İ', 'ı', '\ufeff', '\ud800', 'Ⅻ', '①', 'Ｆｕｌｌ', '\u0301',
];

function hostileText(random: () => number, maxPieces: number): string {
  const count = Math.floor(random() * maxPieces);
  let text = '';
  for (let i = 0; i < count; i++) text += PIECES[Math.floor(random() * PIECES.length)] + (random() < 0.5 ? ' ' : '');
  return text;
}

/** Names, addresses and companies built from hostile pieces: other scripts, emoji, controls, combining marks, long words. */
export function hostileFields(random: () => number): Partial<ContractForPerso> {
  const long = random() < 0.05 ? 40 : 4;
  return {
    firstName: hostileText(random, long), lastName: hostileText(random, 3) || 'X', companyName: hostileText(random, 3),
    embossedName: random() < 0.1 ? hostileText(random, 4) : undefined, title: hostileText(random, 2).slice(0, 3),
    addressLine1: `1 ${hostileText(random, 3)}`, addressLine2: hostileText(random, 3), addressLine3: hostileText(random, 3),
    postalCode: hostileText(random, 2).slice(0, 4), city: hostileText(random, 3) || 'Berlin',
  };
}
