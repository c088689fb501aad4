import type { Validation } from '../db/batches.js';
import { persoRowOf, toPerso, type PersoValues } from '../db/perso-rows.js';
import type { ContractForPerso } from '../domain/contract.js';
import type { Prepared, PreparedCard } from '../perso/index.js';
import { PanIntegrityError, type PanCipher } from '../security/pan.js';

/** A page of contracts as screened for a batch: a verdict per contract, in order, and the valid ones prepared. */
export interface ScreenedPage {
  verdicts: Validation[];
  prepared: PreparedCard[];
}

/**
 * Our own checks of a page of contracts read for a batch: each PAN decrypted and each card prepared
 * for the file (maker.validate). A PAN that cannot be read is that card's problem (Invalid, field
 * `pan`), not the batch's.
 */
export function screenPage(page: PersoValues[], cipher: PanCipher, validate: (contract: ContractForPerso) => Prepared): ScreenedPage {
  const verdicts: Validation[] = [];
  const prepared: PreparedCard[] = [];
  for (const values of page) {
    const verdict = screenOne(values, cipher, validate);
    if (verdict.ok) {
      prepared.push(verdict.card);
      verdicts.push({ ok: true });
    } else verdicts.push({ ok: false, field: verdict.field, reason: verdict.reason });
  }
  return { verdicts, prepared };
}

function screenOne(values: PersoValues, cipher: PanCipher, validate: (contract: ContractForPerso) => Prepared): Prepared {
  let contract: ContractForPerso;
  try {
    contract = toPerso(persoRowOf(values), cipher);
  } catch (err) {
    if (err instanceof PanIntegrityError) return { ok: false, field: 'pan', reason: err.message };
    throw err;
  }
  return validate(contract);
}
