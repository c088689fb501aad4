/**
 * The file thread (see file-thread.ts): screens the pages the claim reads and renders, encrypts and
 * writes the valid cards of each claimed page into the batch's outbox file.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { EncryptedFile, PageVerdict } from '../db/batches.js';
import { fromWireError, toWireError } from '../errors.js';
import { silentLogger } from '../log.js';
import type { PreparedCard } from '../perso/index.js';
import { PanCipher } from '../security/pan.js';
import { buildEncryptedFile } from './build.js';
import { Feed } from './feed.js';
import type { FileThreadBatch, FileThreadReply, FileThreadRequest, FileThreadSetup } from './file-thread-protocol.js';
import { makePersoFileMaker } from './perso-file-maker.js';
import { screenPage } from './screen.js';

const setup = (workerData as { data: FileThreadSetup }).data;
const port = parentPort!;
const send = (reply: FileThreadReply) => port.postMessage(reply);

const cipher = new PanCipher(Buffer.from(setup.panKey), setup.previousPanKey && Buffer.from(setup.previousPanKey));
// the main thread made the same maker and logged its warnings (key expiry) already
const maker = makePersoFileMaker(setup.config, { log: silentLogger, now: new Date(setup.now) });
maker.catch(() => undefined); // its failure is every request's answer
/** valid cards of the pages screened and not yet claimed, oldest first */
const screened: PreparedCard[][] = [];
const feed = new Feed<PreparedCard>();
let built: Promise<EncryptedFile> | undefined;
let buildStopped: Promise<never> | undefined;
let firstBytesAnswer: { resolve(): void; reject(err: Error): void } | undefined;

// requests are handled one at a time, in order: a page is claimed only after it was screened
let turn: Promise<void> = Promise.resolve();
port.on('message', (msg: FileThreadRequest) => {
  if (msg.type === 'first-bytes-ok') return firstBytesAnswer?.resolve();
  if (msg.type === 'first-bytes-failed') return firstBytesAnswer?.reject(fromWireError(msg.error));
  turn = turn.then(() => handle(msg)).then(
    (answer) => send({ id: msg.id, type: 'done', ...answer }),
    (err) => send({ id: msg.id, type: 'failed', error: toWireError(err) }),
  );
});

async function handle(msg: Extract<FileThreadRequest, { id: number }>): Promise<{ verdict?: PageVerdict; file?: EncryptedFile }> {
  const { validate } = await maker;
  switch (msg.type) {
    case 'screen': {
      const { verdict, prepared } = screenPage(msg.page, cipher, (contract) => validate(contract, setup.businessDate));
      screened.push(prepared);
      return { verdict };
    }
    case 'claimed': {
      const cards = screened.shift();
      if (cards?.length !== msg.validCards) throw new Error(`the claim took ${msg.validCards} cards of a page where ${cards?.length ?? 0} were screened valid`);
      built ??= startBuild(msg.batch);
      await Promise.race([feed.push(cards), buildStopped]);
      return {};
    }
    case 'finish':
      feed.end();
      return { file: await (built ?? Promise.reject(new Error('no card was claimed'))) };
    case 'abort':
      feed.fail(new Error('the claim was abandoned'));
      await built?.catch(() => undefined);
      return {};
  }
}

function startBuild(batch: FileThreadBatch): Promise<EncryptedFile> {
  const build = maker.then((fileMaker) => buildEncryptedFile({
    maker: fileMaker, fileName: batch.fileName, outbox: setup.outbox, contracts: { prepared: feed },
    identity: { businessDate: batch.businessDate, sequence: batch.sequence, createdAt: new Date(batch.createdAt) },
    onFirstBytes: askMainOnFirstBytes,
  }));
  // a build that stops taking cards (failed) fails the page being claimed, rather than leave it waiting
  buildStopped = build.then(() => Promise.reject(new Error('the file ended before the claim')));
  buildStopped.catch(() => undefined);
  return build;
}

/** The job's fault hook runs on the main thread: the build waits for it. */
function askMainOnFirstBytes(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    firstBytesAnswer = { resolve, reject };
    send({ type: 'first-bytes' });
  });
}
