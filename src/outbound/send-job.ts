import { makeCalendar, type BusinessCalendar } from '../calendar/index.js';
import type { Config } from '../config/schema.js';
import {
  batchContracts, confirmBatch, getBatch, markEncrypted, markUploaded, recordBatchFailure, unfinishedBatches, type Batch, type EncryptedFile, type LateCards,
} from '../db/batches.js';
import { nowIso, type Db } from '../db/connection.js';
import { countMarked } from '../db/marked.js';
import { PermanentError, messageOf } from '../errors.js';
import { noteInvalid, type Clock, type SendJob, type SendOptions, type SendResult } from '../jobs.js';
import { scrub, type Logger } from '../log.js';
import type { PanCipher } from '../security/pan.js';
import { withSession, type Transport } from '../transport/remote.js';
import { buildEncryptedFile } from './build.js';
import { claimAndBuild } from './claim-step.js';
import { alreadyDelivered, outboxIntact } from './deliver.js';
import { dryRunSend } from './dry-run.js';
import { startEarlyUpload, type EarlyUpload } from './early-upload.js';
import { archiveFile, purgeArchive, removeStaleTemporaries, sendFolders } from './files.js';
import { holdLease, type HeldLease } from '../lease/job-lease.js';
import { makePersoFileMaker, type PersoFileMaker } from './perso-file.js';
import { bureauConfig, type SendBureau } from './bureau-config.js';

/**
 * Where tests make a run fail (throw) or die (kill -9): after each state change, in the middle of
 * encryption, and inside the confirm's transaction (every write done, nothing committed).
 */
export type SendFaultPoint = 'claimed' | 'encrypting' | 'encrypted' | 'transferred' | 'uploaded' | 'confirming';

export interface SendJobDeps {
  db: Db;
  config: Config;
  /** the bureau this job sends to (bureau-config.ts); default the first configured bureau */
  bureau?: SendBureau;
  cipher: PanCipher;
  transport: Transport;
  log: Logger;
  clock?: Clock;
  /** default: the configured business-day calendar */
  calendar?: BusinessCalendar;
  faults?: { at?(point: SendFaultPoint, batch: Pick<Batch, 'id' | 'fileName'>): void | Promise<void> };
}

/**
 * The send job: claimed → encrypted → uploaded → sent (docs/design.md). Each run first carries every
 * unfinished batch forward from its state, then claims and sends new batches until no Marked card
 * is left; one runner at a time (lease).
 */
export function makeSendJob(deps: SendJobDeps): SendJob {
  const { db, cipher, transport } = deps;
  const bureau = deps.bureau ?? bureauConfig(deps.config, deps.config.bureaus[0]!.code);
  // everything bureau-specific (layout, names, keys, SFTP) is read from the bureau's view of the config
  const config = bureau.config;
  const log = bureau.scope.first ? deps.log : deps.log.child({ bureau: bureau.code });
  const clock = deps.clock ?? (() => new Date());
  const calendar = deps.calendar ?? makeCalendar(config.calendar);
  const folders = sendFolders(bureau.workDir);
  const fault = async (point: SendFaultPoint, batch: Pick<Batch, 'id' | 'fileName'>) => deps.faults?.at?.(point, batch);
  const now = () => nowIso(clock);

  return {
    async run(options: SendOptions = {}): Promise<SendResult> {
      const businessDate = options.businessDate ?? calendar.businessDateAt(clock(), config.schedule.timezone);
      // layout and keys from config, loaded (and the bureau key checked) once per run, when first needed:
      // a batch the bureau already has is confirmed whatever became of its key since
      const made = once(() => makePersoFileMaker(config, { log, now: clock() }));
      if (options.dryRun) {
        return dryRunSend({ db, cipher, maker: await made(), businessDate, maxCards: config.perso.maxCardsPerFile, clock, bureau: bureau.scope, route: bureau.route });
      }
      const lease = await holdLease(db, config.daemon.leaseTtlSeconds * 1000, log, bureau.lease);
      try {
        return await sendAll(made, lease, businessDate, options);
      } catch (err) {
        throw leaseLostOr(lease, err);
      } finally {
        await lease.release();
      }
    },
  };

  /**
   * A run that failed after its lease ran out failed because of it, whatever it met: a runner frozen past
   * its lease wakes to find the runner now holding it has cleaned the outbox (ENOENT on its file). It is
   * told as the lease's loss, which says another runner goes on; what it met is kept as the cause.
   */
  function leaseLostOr(lease: HeldLease, err: unknown): unknown {
    try {
      lease.assertHeld();
      return err;
    } catch (lost) {
      if (!(lost instanceof Error) || (err instanceof Error && err.message.includes(lost.message))) return err;
      return Object.assign(lost, { message: `${lost.message} (then: ${messageOf(err)})`, cause: err });
    }
  }

  async function sendAll(made: () => Promise<PersoFileMaker>, lease: HeldLease, businessDate: string, options: SendOptions): Promise<SendResult> {
    const result: SendResult = { batches: [], cardsSent: 0, invalid: [] };
    const sent = (batch: Batch) => {
      result.batches.push({ fileName: batch.fileName, records: batch.recordCount, state: batch.state });
      result.cardsSent += batch.recordCount;
    };
    const stale = await removeStaleTemporaries(folders);
    if (stale.length) log.warn({ files: stale }, 'removed half-written files of an interrupted run from the outbox');
    for (const batch of await unfinishedBatches(db, bureau.scope)) {
      if (options.signal?.aborted) return result;
      log.info({ batch: batch.id, file: batch.fileName, state: batch.state }, 'resuming unfinished batch');
      sent(await carryForward(made, lease, batch));
    }
    if (options.resumeOnly) return result;
    // nothing is claimed that could not be encrypted: the keys are checked first (on any day, as before)
    const maker = await made();
    const notBusinessDay = calendar.whyNot(businessDate);
    if (notBusinessDay && !options.force) {
      log.warn({ businessDate, why: notBusinessDay }, 'not a business day: nothing new claimed (use force to send anyway)');
      return { ...result, notBusinessDay };
    }
    // the count costs a query: only when someone shows progress
    options.progress?.begin('claiming and encrypting', 'cards', await countMarked(db));
    for (;;) {
      if (options.signal?.aborted) return result;
      lease.assertHeld();
      const { claim, built, early } = await claimAndBuild({
        db, config, cipher, maker, lease, businessDate, now: now(), bureau: bureau.scope, route: bureau.route, outbox: folders.outbox, progress: options.progress,
        onFirstBytes: (batch) => fault('encrypting', batch),
        earlyUpload: (fileName) => startEarlyUpload(transport, config.sftp.inboundDir, fileName, log),
      });
      noteInvalid(result, claim.invalid, claim.invalidCount);
      if (claim.requeued) log.warn({ cards: claim.requeued }, 'Marked cards were missing from marked_contracts (its triggers were off): this claim took them in');
      if (!claim.batch) return result;
      log.info({ batch: claim.batch.id, file: claim.batch.fileName, records: claim.batch.recordCount }, 'batch claimed');
      try {
        sent(await carryForward(async () => maker, lease, claim.batch, built, early));
      } catch (err) {
        // the resumed batch uploads its file again: the .part of this run's upload goes (a kill leaves it, and the next upload replaces it)
        await early?.discard();
        throw err;
      } finally {
        // never leave a build writing the outbox behind a failed run: the next run may write the same file
        await built?.catch(() => undefined);
        await early?.close();
      }
    }
  }

  /** Moves one batch through its remaining states; a failure is counted on the batch and rethrown. */
  async function carryForward(made: () => Promise<PersoFileMaker>, lease: HeldLease, batch: Batch, built?: Promise<EncryptedFile>, early?: EarlyUpload): Promise<Batch> {
    let current = batch;
    try {
      if (current.state === 'claimed') await fault('claimed', current);
      const encryptedNow = current.state === 'claimed';
      if (encryptedNow) current = await encrypt(await made(), lease, current, built);
      if (current.state === 'encrypted') current = await upload(made, lease, current, encryptedNow, encryptedNow ? early : undefined);
      if (current.state === 'uploaded') current = await confirm(lease, current);
      return current;
    } catch (err) {
      await recordBatchFailure(db, batch.id, scrub(messageOf(err)), now())
        .catch((e) => log.error({ batch: batch.id, err: messageOf(e) }, 'could not record the failure'));
      log.error({ batch: batch.id, file: batch.fileName, state: current.state, err: messageOf(err) }, 'batch failed; the next run resumes it');
      throw err;
    }
  }

  /** claimed → encrypted: the file built during the claim, else rendered again from batch_items (same clear bytes). */
  async function encrypt(maker: PersoFileMaker, lease: HeldLease, batch: Batch, built?: Promise<EncryptedFile>): Promise<Batch> {
    const file = built ? await built : await buildEncryptedFile({
      maker, fileName: batch.fileName, outbox: folders.outbox,
      rendered: maker.render({ businessDate: batch.businessDate, sequence: batch.sequence, createdAt: new Date(batch.createdAt) }, batchContracts(db, batch.id, cipher)),
      onFirstBytes: () => fault('encrypting', batch),
    });
    if (file.recordCount !== batch.recordCount || file.hashTotal !== batch.hashTotal) {
      throw new PermanentError(`batch ${batch.id} rendered ${file.recordCount} records (hash total ${file.hashTotal}), ` +
        `but ${batch.recordCount} (hash total ${batch.hashTotal}) were claimed`);
    }
    lease.assertHeld();
    await markEncrypted(db, batch.id, file, now());
    const encrypted = await reload(batch);
    log.info({ batch: batch.id, file: batch.fileName, bytes: file.encSize, sha256: file.encSha256 }, 'batch encrypted');
    await fault('encrypted', encrypted);
    return encrypted;
  }

  /**
   * encrypted → uploaded: the `.part` uploaded during the claim renamed once its size is checked, or,
   * unless the file is already on the server under its final name, the outbox file uploaded
   * atomically. A file written earlier (a resumed batch) is checked against its recorded hash first.
   */
  async function upload(made: () => Promise<PersoFileMaker>, lease: HeldLease, batch: Batch, encryptedNow: boolean, early?: EarlyUpload): Promise<Batch> {
    const dir = config.sftp.inboundDir;
    let current = batch;
    const delivered = (await renamedEarly(lease, current, early)) ? false : await withSession(transport, async (session) => {
      if (await alreadyDelivered(session, dir, current)) return true;
      const maker = encryptedNow ? undefined : await made();
      if (maker && !(await outboxIntact(current, maker.recipientKeyIds))) {
        log.warn({ batch: batch.id, file: batch.fileName }, 'outbox file missing, changed or encrypted to keys no longer configured: encrypting again');
        current = await encrypt(maker, lease, { ...current, state: 'claimed' });
      }
      lease.assertHeld();
      await session.uploadAtomic(current.outboxPath!, dir, current.fileName, current.encSize!, () => lease.assertHeld());
      return false;
    });
    if (delivered) log.info({ batch: batch.id, file: batch.fileName }, 'file already on the server with the recorded size: not uploaded again');
    await fault('transferred', current);
    lease.assertHeld();
    await markUploaded(db, batch.id, now());
    const uploaded = await reload(batch);
    log.info({ batch: batch.id, file: batch.fileName, dir }, 'batch uploaded');
    await fault('uploaded', uploaded);
    return uploaded;
  }

  /** The file uploaded during the claim, renamed to its final name once its size is checked; false when it is to be uploaded now. */
  async function renamedEarly(lease: HeldLease, batch: Batch, early?: EarlyUpload): Promise<boolean> {
    if (!early) return false;
    const session = await early.landed();
    if (session) lease.assertHeld();
    try {
      if (!session) return false;
      await session.renamePart(config.sftp.inboundDir, batch.fileName, batch.encSize!);
      return true;
    } catch (err) {
      log.warn({ batch: batch.id, file: batch.fileName, err: messageOf(err) }, 'the file uploaded during the claim was not renamed: uploading it again');
      return false;
    } finally {
      // this step has taken it over; its session ends before the file is uploaded again on another
      await early.close();
    }
  }

  /** uploaded → sent: cards InProduction; the encrypted file moves to the archive, old archives are purged. */
  async function confirm(lease: HeldLease, batch: Batch): Promise<Batch> {
    const archived = batch.outboxPath ? await archiveFile(batch.outboxPath, folders, log, clock()) : null;
    lease.assertHeld();
    const cards = await lease.duringTransaction(() => confirmBatch(db, batch.id, archived, now(), {
      renewLease: (within) => lease.renewWithin(within),
      beforeCommit: () => fault('confirming', batch),
      lateCards: (late) => warnLate(batch, late),
    }));
    log.info({ batch: batch.id, file: batch.fileName, cards }, 'batch sent');
    const purged = await purgeArchive(folders, config.archive.retentionDays, clock());
    if (purged.length) log.info({ files: purged }, 'archived files past retention deleted');
    return reload(batch);
  }

  /** The cards the card system moved out of Marked while they were being sent (batches.ts, confirmLateCards). */
  function warnLate(batch: Batch, late: LateCards): void {
    if (late.takenCount) {
      log.warn({ batch: batch.id, file: batch.fileName, cards: late.takenCount, listed: late.taken },
        'cards set Invalid after their claim are in the file the bureau received: they are InProduction in it; ask the bureau to stop any that must not be made');
    }
    if (late.leftCount) {
      log.error({ batch: batch.id, file: batch.fileName, cards: late.leftCount, listed: late.left },
        'cards in the file the bureau received were set, after their claim, to a status only the bureau reports: left as they are, check them');
    }
  }

  async function reload(batch: Batch): Promise<Batch> {
    const row = await getBatch(db, batch.id);
    if (!row) throw new Error(`batch ${batch.id} disappeared`);
    return row;
  }
}

/** `make` called once, on first use; its outcome (a failure too) shared by every later call. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}
