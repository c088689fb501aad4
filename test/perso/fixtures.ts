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
