import type { Knex } from 'knex';
import { PanIntegrityError, type PanCipher } from '../security/pan.js';
import { CLAIM_MUTEX } from './claim.js';
import { dialectOf } from './connection.js';
import { enterMutex, leaveMutex } from './lease.js';

/** A card whose stored PAN the rotation left as it was: not its own, or unreadable. */
export interface RefusedPan {
  contractNumber: string;
  plasticId: string;
  /** why, without the PAN */
  reason: string;
}

export interface PanRotation {
  /** values moved to the current format under the current key */
  rotated: number;
  /** values already there (or rewritten meanwhile by an import, which writes the current format) */
  current: number;
  /** values left as they were: the send sets those cards Invalid with field `pan` */
  refused: number;
  /** the first REFUSED_LISTED of them */
  refusedCards: RefusedPan[];
}

export const REFUSED_LISTED = 20;


const COLUMNS = ['id', 'contract_number', 'plastic_id', 'pan_enc', 'pan_last4', 'pan_hmac'] as const;

interface PanColumns {
  id: number;
  contract_number: string;
  plastic_id: string;
  pan_enc: string;
  pan_last4: string;
  pan_hmac: string;
}

/**
 * Moves every stored PAN to the current format (bound to its card) under the current key, reading
 * old values with the previous key or in the old format; a page of `pageSize` rows at a time (bounded
 * memory), each page's writes in one transaction. Resumable and idempotent: values already current
 * are skipped, so a rerun does what is left. A value is only rewritten if it is still the one read;
 * one replaced meanwhile is read again and handled as it now is. A value that does not decrypt to its
 * card's PAN (moved from another row: its last four digits or look-up hash differ) is not bound to
 * this card: it is left as it was and reported. A value under a key that is not configured stops the rotation.
 */
export async function rotatePans(db: Knex, cipher: PanCipher, pageSize = 500): Promise<PanRotation> {
  const result: PanRotation = { rotated: 0, current: 0, refused: 0, refusedCards: [] };
  let lastId = 0;
  for (;;) {
    const rows: PanColumns[] = await db('card_contracts')
      .select(...COLUMNS)
      .where('id', '>', lastId).orderBy('id').limit(pageSize);
    if (!rows.length) return result;
    lastId = Number(rows[rows.length - 1]!.id);
    const updates = reencrypted(rows, cipher, result);
    if (!updates.length) continue;
    await db.transaction(async (trx) => {
      // A claim on PostgreSQL passes over rows another transaction has locked (SKIP LOCKED): reading
      // while this page's rows are locked, it would leave their Marked cards out of its batch.
      await enterMutex(trx, CLAIM_MUTEX);
      for (const u of updates) {
        const changed = await trx('card_contracts').where({ id: u.id, pan_enc: u.from }).update({ pan_enc: u.panEnc, pan_hmac: u.panHmac });
        if (changed) result.rotated++;
        else await rotateRewritten(trx, u.id, cipher, result);
      }
      await leaveMutex(trx, CLAIM_MUTEX);
    });
  }
}

/**
 * A row whose value changed since its page was read: an import under the current key (then it is
 * current), or a writer still on the old key, whose value would otherwise stay behind, counted as
 * current, and become unreadable once the old key is retired. Read again, locked, and handled anew.
 */
async function rotateRewritten(trx: Knex.Transaction, id: number, cipher: PanCipher, result: PanRotation): Promise<void> {
  const read = trx('card_contracts').select(...COLUMNS).where({ id });
  if (dialectOf(trx) !== 'sqlite') read.forUpdate(); // SQLite: this transaction already holds the only write lock
  const rows: PanColumns[] = await read;
  const [update] = reencrypted(rows, cipher, result);
  if (!update) return;
  await trx('card_contracts').where({ id }).update({ pan_enc: update.panEnc, pan_hmac: update.panHmac });
  result.rotated++;
}

function reencrypted(rows: PanColumns[], cipher: PanCipher, result: PanRotation) {
  const updates: Array<{ id: number; from: string; panEnc: string; panHmac: string }> = [];
  for (const row of rows) {
    if (cipher.isCurrent(row.pan_enc)) {
      result.current++;
      continue;
    }
    const card = { contractNumber: row.contract_number, plasticId: row.plastic_id };
    let pan: string;
    try {
      pan = cipher.decrypt(row.pan_enc, { ...card, panLast4: row.pan_last4, panHmac: row.pan_hmac });
    } catch (err) {
      if (!(err instanceof PanIntegrityError)) throw err;
      if (result.refused++ < REFUSED_LISTED) result.refusedCards.push({ ...card, reason: err.message });
      continue;
    }
    const stored = cipher.encrypt(pan, card);
    updates.push({ id: Number(row.id), from: row.pan_enc, panEnc: stored.panEnc, panHmac: stored.panHmac });
  }
  return updates;
}
