import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { seededRandom } from './decide.js';

/**
 * Realistic test contracts for the demo: cardholders from several countries and scripts (diacritics,
 * Cyrillic, Greek), long names, companies, several products and delivery methods, and a few cards
 * that our own validation must set Invalid. TEST DATA: the PANs are Luhn-valid numbers of a test BIN.
 */
const PEOPLE: Array<{ first: string[]; last: string[]; country: string; cities: Array<[string, string]>; streets: string[] }> = [
  { first: ['Jürgen', 'Käthe', 'Björn', 'Lena', 'Maximilian Alexander'], last: ['Müller', 'Groß', 'Schäfer', 'Weiß', 'Köhler'], country: 'DEU',
    cities: [['10115', 'Berlin'], ['80331', 'München'], ['50667', 'Köln']], streets: ['Hauptstraße', 'Schloßallee', 'Gärtnerweg'] },
  { first: ['Éloïse', 'François', 'Zoë', 'Anaïs'], last: ['Lefèvre', 'Bénard', 'Dupré', 'Garçon'], country: 'FRA',
    cities: [['75001', 'Paris'], ['69002', 'Lyon']], streets: ['Rue de la Paix', 'Avenue Émile Zola'] },
  { first: ['Łukasz', 'Zofia', 'Paweł'], last: ['Wałęsa', 'Żółkiewska', 'Brzęczyszczykiewicz'], country: 'POL',
    cities: [['00-001', 'Warszawa'], ['30-001', 'Kraków']], streets: ['ul. Świętokrzyska', 'ul. Łąkowa'] },
  { first: ['Åsa', 'Søren', 'Øystein'], last: ['Ødegård', 'Ångström', 'Kjærsgaard'], country: 'SWE',
    cities: [['111 20', 'Stockholm'], ['411 01', 'Göteborg']], streets: ['Drottninggatan', 'Östra Hamngatan'] },
  { first: ['José María', 'Begoña', 'Iñaki'], last: ['Peña Núñez', 'Muñoz', 'Ibáñez'], country: 'ESP',
    cities: [['28001', 'Madrid'], ['08001', 'Barcelona']], streets: ['Calle Mayor', 'Avinguda Diagonal'] },
  { first: ['Сергей', 'Анастасия', 'Дмитрий'], last: ['Иванов', 'Кузнецова', 'Смирнов'], country: 'UKR',
    cities: [['01001', 'Київ'], ['61000', 'Харків']], streets: ['вул. Хрещатик', 'вул. Сумська'] },
  { first: ['Γιώργος', 'Ελένη', 'Δημήτρης'], last: ['Παπαδόπουλος', 'Οικονόμου', 'Αλεξίου'], country: 'GRC',
    cities: [['105 57', 'Αθήνα'], ['546 21', 'Θεσσαλονίκη']], streets: ['Οδός Ερμού', 'Λεωφόρος Νίκης'] },
];

const LONG_NAME = { first: 'Maria Magdalena Theresia', last: 'Schwarzenberg' };
const COMPANIES = ['', '', '', '', 'ACME Logistics GmbH', 'Café Müller & Söhne', 'Nordic Fjord AB'];
const PRODUCTS: Array<[string, string, number]> = [['CLASSIC01', 'VSDC-CL-01', 0.6], ['GOLD01', 'VSDC-GL-01', 0.3], ['PLATIN01', 'VSDC-PL-01', 0.1]];

/** The kinds of card our own validation refuses, one every ~100 cards. */
const INVALID_KINDS = ['bad-luhn', 'virtual', 'unknown-country', 'expired', 'name-too-long'] as const;

export interface DemoCardsWritten {
  cards: number;
  /** how many were made invalid on purpose (our validation sets them Invalid) */
  invalidOnPurpose: number;
}

function luhnComplete(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return body + ((10 - (sum % 10)) % 10);
}

/** One demo card as an import line (the fields of `contracts import`). */
export function demoCard(n: number, rng: () => number, now: Date): Record<string, unknown> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
  const people = pick(PEOPLE);
  const long = n % 97 === 0;
  const [postalCode, city] = pick(people.cities);
  let x = rng();
  const [productCode, chipProfile] = PRODUCTS.find(([, , share]) => (x -= share) < 0) ?? PRODUCTS[0]!;
  const expiry = String((now.getUTCFullYear() + 3) % 100).padStart(2, '0') + String(now.getUTCMonth() + 1).padStart(2, '0');
  const card: Record<string, unknown> = {
    contractId: String(4_100_000 + n),
    plasticId: String(7_300_000 + n),
    pan: luhnComplete('400000' + String(n).padStart(9, '0')),
    psn: 2,
    expiry,
    requestType: n % 20 === 0 ? 'REISSUE' : 'NEW',
    cardForm: 'physical',
    title: pick(['Mr', 'Ms', 'Dr', '']),
    firstName: long ? LONG_NAME.first : pick(people.first),
    lastName: long ? LONG_NAME.last : pick(people.last),
    companyName: pick(COMPANIES),
    addressLine1: `${pick(people.streets)} ${1 + Math.floor(rng() * 120)}`,
    addressLine2: rng() < 0.2 ? `Apt ${1 + Math.floor(rng() * 40)}` : '',
    postalCode,
    city,
    country: people.country,
    productCode,
    chipProfile,
    deliveryMethod: String(pick([1, 1, 1, 1, 2, 3])),
    pinMailer: rng() < 0.7 ? 'Y' : 'N',
  };
  return card;
}

/** Spoils a card the way real data goes wrong; our validation must catch each. */
function spoil(card: Record<string, unknown>, kind: (typeof INVALID_KINDS)[number]): void {
  const pan = String(card.pan);
  if (kind === 'bad-luhn') card.pan = pan.slice(0, -1) + ((Number(pan.slice(-1)) + 1) % 10);
  if (kind === 'virtual') Object.assign(card, { cardForm: 'virtual', psn: 1 });
  if (kind === 'unknown-country') card.country = 'XXX';
  if (kind === 'expired') card.expiry = '2001';
  if (kind === 'name-too-long') Object.assign(card, { firstName: 'Bartholomew', lastName: 'Featherstonehaugh-Cholmondeley-Wolfeschlegelsteinhausen' });
}

/** Writes `count` demo cards as JSON Lines; deterministic for a seed. */
export async function writeDemoContracts(file: string, count: number, options: { seed: number; now: Date }): Promise<DemoCardsWritten> {
  const rng = seededRandom(options.seed, 'demo-contracts');
  const out = createWriteStream(file, { mode: 0o600 });
  let invalidOnPurpose = 0;
  for (let n = 1; n <= count; n++) {
    const card = demoCard(n, rng, options.now);
    if (n % 100 === 50) {
      spoil(card, INVALID_KINDS[invalidOnPurpose % INVALID_KINDS.length]!);
      invalidOnPurpose++;
    }
    if (!out.write(JSON.stringify(card) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { cards: count, invalidOnPurpose };
}
