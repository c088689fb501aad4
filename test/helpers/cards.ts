import type { CardFields } from '../../src/domain/contract.js';

/** Appends the Luhn check digit to a number. */
export function withLuhn(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + ((10 - (sum % 10)) % 10);
}

/** A valid physical card n (contract 1000+n), with overrides. */
export function makeCard(n: number, overrides: Partial<CardFields> = {}): CardFields {
  return {
    contractId: String(1000 + n),
    plasticId: String(5000 + n),
    pan: withLuhn('411111' + String(n).padStart(9, '0')),
    psn: 2,
    expiry: '2911',
    requestType: 'NEW',
    cardForm: 'physical',
    title: 'MR',
    firstName: 'Jane',
    lastName: `Doe${n}`,
    companyName: '',
    addressLine1: `${n} Main Street`,
    addressLine2: '',
    addressLine3: '',
    postalCode: '10115',
    city: 'Berlin',
    country: 'DEU',
    productCode: 'CLASSIC01',
    chipProfile: 'VSDC-CL-01',
    deliveryMethod: 1,
    pinMailer: 'Y',
    ...overrides,
  };
}
