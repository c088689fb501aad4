// The claim of one batch as a step of the send: pages read → screened → claimed → handed to the file.
import type { Db } from '../db/connection.js';
import { openClaim, type ClaimedBatch, type ClaimOutcome, type ClaimRequest, type OpenClaim } from '../db/claim.js';
import type { LeaseRenewal } from '../db/lease.js';
import type { PersoPage } from '../db/perso-rows.js';
import type { PageVerdict } from './screen.js';

export interface ClaimParams extends ClaimRequest {
  maxCards: number;
  /**
   * Our own verdict on the contracts of a page (PANs still encrypted in the page). The next pages are
   * read and handed over before this one's verdict is awaited, so the screening (on the file thread
   * in the send job) runs beside the claim's own reads and writes.
   */
  screen(page: PersoPage): Promise<PageVerdict>;
  /**
   * Told, page by page while the claim is open, how many valid cards were just given their record
   * numbers (the next ones of the batch, in the order `screen` saw them): the job renders and encrypts
   * them on the way, one read of each card instead of two. Awaited after the next page is claimed;
   * its failure fails the claim (rollback).
   */
  onClaimed?(batch: ClaimedBatch, validCards: number): Promise<void>;
  /** the job's lease, renewed inside the claim's transaction before each page */
  lease?: { renewWithin(within: LeaseRenewal): Promise<void> };
}

/**
 * Pages read and handed to the screening ahead of the one being claimed: the screening thread has the
 * next pages at hand while the claim writes, instead of the two threads taking turns. Each costs a
 * page of contracts in memory.
 */
const PAGES_AHEAD = 2;

/** A page read, its screening under way. */
interface ScreeningPage {
  page: PersoPage;
  verdict: Promise<PageVerdict>;
}

/**
 * Claims up to `maxCards` valid Marked contracts into a new batch (db/claim.ts): all of it is
 * committed, or, when any step fails, none of it. The claim's writes are not awaited one by one (the
 * open claim queues them), so the database works while the next pages are screened.
 */
export async function claimBatch(db: Db, params: ClaimParams): Promise<ClaimOutcome> {
  const claim = await openClaim(db, params);
  try {
    await claimPages(claim, params);
    return await claim.finish();
  } catch (err) {
    await claim.abandon();
    throw err;
  }
}

async function claimPages(claim: OpenClaim, params: ClaimParams): Promise<void> {
  const pageSize = params.pageSize ?? claim.pageSize;
  const ahead: ScreeningPage[] = [];
  let lastRead = 0;
  let exhausted = false;
  let claimed = 0;
  // onClaimed of the page before: awaited a page late, so the claim does not wait for each answer
  let previousTold: Promise<void> = Promise.resolve();

  /** Reads the next page (the lease renewed first, in the claim's transaction) and starts its screening. */
  const read = async (limit: number): Promise<void> => {
    const [, page] = await Promise.all([params.lease?.renewWithin(claim), claim.readPage(lastRead, limit)]);
    if (page.count < limit) exhausted = true;
    if (!page.count) return;
    lastRead = page.lastId;
    const verdict = params.screen(page);
    verdict.catch(() => undefined); // awaited when the page is claimed
    ahead.push({ page, verdict });
  };

  // never more contracts read than could still be claimed if all those read are valid
  const readAhead = async (): Promise<void> => {
    while (!exhausted && ahead.length < PAGES_AHEAD) {
      const room = params.maxCards - claimed - ahead.reduce((n, open) => n + open.page.count, 0);
      if (room <= 0) return;
      await read(Math.min(pageSize, room));
    }
  };

  /** The page's valid cards become the batch's next records, the invalid ones are set aside, and the file is told. */
  const claimPage = async ({ page, verdict: screening }: ScreeningPage): Promise<void> => {
    const verdict = await screening;
    const valid = verdict.validIds;
    if (valid.length + verdict.invalid.length !== page.count) {
      throw new Error(`screening judged ${valid.length + verdict.invalid.length} contracts of a page of ${page.count}`);
    }
    const batch = valid.length ? await claim.addValid(valid, verdict.contractNumberSum) : undefined;
    claim.setAside(verdict.invalid);
    claimed += valid.length;
    if (!batch || !params.onClaimed) return;
    const told = params.onClaimed(batch, valid.length);
    told.catch(() => undefined); // awaited after the next page, or at the end
    await previousTold;
    previousTold = told;
  };

  await readAhead();
  while (ahead.length) {
    await claimPage(ahead.shift()!);
    await readAhead();
  }
  await previousTold;
}
