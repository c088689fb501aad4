// The claim of one batch as a step of the send: pages read → screened → claimed → rendered and encrypted (and uploaded as `.part`).
import type { Config } from '../config/schema.js';
import type { EncryptedFile } from '../db/batches.js';
import type { BureauScope } from '../db/bureau-scope.js';
import { openClaim, type ClaimedBatch, type ClaimOutcome, type ClaimRequest, type OpenClaim } from '../db/claim.js';
import type { Db } from '../db/connection.js';
import type { LeaseRenewal } from '../db/lease.js';
import type { PersoPage } from '../db/perso-rows.js';
import type { HeldLease } from '../lease/job-lease.js';
import type { JobProgress } from '../progress/job-progress.js';
import type { PanCipher } from '../security/pan.js';
import { buildEncryptedFile } from './build.js';
import type { EarlyUpload } from './early-upload.js';
import { FileThread } from './file-thread.js';
import type { PersoFileMaker } from './perso-file.js';
import type { PageVerdict, ScreenRoute } from './screen.js';

export interface ClaimParams extends ClaimRequest {
  maxCards: number;
  /**
   * Our own verdict on the contracts of a page (PANs still encrypted in the page). The next pages are
   * read and handed over before this one's verdict is awaited, so the screening (on the file thread
   * in the send job) runs beside the claim's own reads and writes.
   */
  screen(page: PersoPage): Promise<PageVerdict>;
  /**
   * Told, page by page while the claim is open, which valid cards (contract ids) were just given the
   * batch's next record numbers, in record order: the job renders and encrypts them on the way, one
   * read of each card instead of two. Awaited after the next page is claimed; its failure fails the
   * claim (rollback).
   */
  onClaimed?(batch: ClaimedBatch, contractIds: number[]): Promise<void>;
  /** the job's lease, renewed inside the claim's transaction before each page */
  lease?: { renewWithin(within: LeaseRenewal): Promise<void> };
  /** advanced by the cards of each page claimed (valid and set aside; not another bureau's) */
  progress?: Pick<JobProgress, 'advance'>;
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
    const judged = valid.length + verdict.invalid.length + verdict.others;
    if (judged !== page.count) {
      throw new Error(`screening judged ${judged} contracts of a page of ${page.count}`);
    }
    const batch = valid.length ? await claim.addValid(valid, verdict.contractNumberSum) : undefined;
    claim.setAside(verdict.invalid);
    claimed += valid.length;
    // another bureau's cards are not this send's work (and are read again by its next claim)
    params.progress?.advance(page.count - verdict.others);
    if (!batch || !params.onClaimed) return;
    const told = params.onClaimed(batch, valid);
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

export interface ClaimAndBuildRequest {
  db: Db;
  config: Config;
  cipher: PanCipher;
  maker: PersoFileMaker;
  lease: Pick<HeldLease, 'renewWithin' | 'duringTransaction'>;
  businessDate: string;
  now: string;
  outbox: string;
  /** the bureau the batch is for (its sequence, its code on the batch) */
  bureau?: BureauScope;
  /** when cards may go to another bureau: they are routed as they are screened, another's left Marked */
  route?: ScreenRoute;
  progress?: Pick<JobProgress, 'advance'>;
  /** called once, when the file's first clear bytes flow (fault injection in tests) */
  onFirstBytes?(batch: ClaimedBatch): void | Promise<void>;
  /** starts the upload of the file (by its name) while the claim makes it (early-upload.ts) */
  earlyUpload?(fileName: string): EarlyUpload;
}

/**
 * The claim of one batch, its cards screened and rendered on the file thread as the claim reads
 * them, and encrypted into the outbox here (each card read and decrypted once, on two cores). The
 * file only counts once the claim has committed and the job recorded it (`built`); if the claim
 * fails, it rolls back and the file is abandoned.
 */
export async function claimAndBuild(req: ClaimAndBuildRequest): Promise<{ claim: ClaimOutcome; built?: Promise<EncryptedFile>; early?: EarlyUpload }> {
  const { config, cipher, businessDate, maker, lease } = req;
  const thread = new FileThread({ config, cipher, businessDate, ...(req.route ? { route: req.route } : {}) });
  const file = new ClaimedFile(thread, req);
  try {
    const claim = await lease.duringTransaction(() => claimBatch(req.db, {
      businessDate, ...(req.bureau ? { bureau: req.bureau } : {}), maxCards: config.perso.maxCardsPerFile, fileName: (seq) => maker.fileName(businessDate, seq), now: req.now, lease, progress: req.progress,
      screen: (page) => thread.screen(page),
      onClaimed: (batch, contractIds) => file.claimed(batch, contractIds),
    }));
    if (!claim.batch) {
      await file.abandon();
      return { claim };
    }
    await file.finish();
    return { claim, built: file.built, ...(file.early ? { early: file.early } : {}) };
  } catch (err) {
    await file.abandon();
    throw err;
  }
}

/**
 * The batch's file while its claim is open: started with the first claimed page, rendered on the file
 * thread and encrypted into the outbox (build.ts). A file that stops taking cards (its build failed)
 * fails the claim rather than leave it waiting for the file thread.
 */
class ClaimedFile {
  /** the encrypted file in the outbox, once built */
  built: Promise<EncryptedFile> | undefined;
  /** its upload while the claim makes it, when the job asked for one */
  early: EarlyUpload | undefined;
  /** fails as soon as the build ended: before the claim's end, whether failed or not, it is an error */
  private stopped: Promise<never> | undefined;

  constructor(private readonly thread: FileThread, private readonly req: ClaimAndBuildRequest) {}

  async claimed(batch: ClaimedBatch, contractIds: number[]): Promise<void> {
    if (!this.built) this.start(batch);
    await Promise.race([this.thread.claimed(contractIds), this.stopped!]);
  }

  /** No more cards: the file ends (the build goes on, awaited by the job as `built`). */
  async finish(): Promise<void> {
    const finished = this.thread.finish();
    finished.catch(() => undefined); // raced below
    // The claim has committed: a build that failed now is the batch's failure, which the job
    // records when it awaits `built`, not the claim's. Either way the thread has no more to do.
    const built = this.built!.then(() => 'built', () => 'failed');
    if ((await Promise.race([finished.then(() => 'finished'), built])) !== 'finished') await this.thread.abort();
  }

  /** Never leaves a build writing the outbox behind a failed claim: the next run may write the same file. */
  async abandon(): Promise<void> {
    await this.thread.abort().catch(() => undefined);
    await this.built?.catch(() => undefined);
    await this.early?.discard();
  }

  private start(batch: ClaimedBatch): void {
    const { maker, businessDate, outbox } = this.req;
    this.early = this.req.earlyUpload?.(batch.fileName);
    const built = buildEncryptedFile({
      maker, fileName: batch.fileName, outbox, ...(this.early ? { copyTo: this.early.copy } : {}),
      rendered: this.thread.render({ businessDate, sequence: batch.sequence, createdAt: new Date(batch.createdAt) }),
      onFirstBytes: () => this.req.onFirstBytes?.(batch),
    });
    built.catch(() => undefined); // awaited by the claim (stopped, finish) and the job
    this.built = built;
    this.stopped = built.then(() => Promise.reject(new Error('the file ended before the claim')));
    this.stopped.catch(() => undefined);
  }
}
