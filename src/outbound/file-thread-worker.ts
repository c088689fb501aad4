/**
 * The file thread (see file-thread.ts): screens the pages the claim reads and renders the valid
 * cards of each claimed page into the clear file, which goes to the main thread chunk by chunk.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PageVerdict } from './screen.js';
import { toWireError } from '../errors.js';
import type { PreparedCard } from '../perso/index.js';
import { PanCipher } from '../security/pan.js';
import type { FileThreadReply, FileThreadRequest, FileThreadSetup, WireIdentity } from './file-thread.js';
import { makePersoFormat } from './perso-file.js';
import { screenPage } from './screen.js';

/** Clear bytes sent and not yet taken by the main thread, at most (memory stays bounded). */
const IN_FLIGHT_LIMIT = 2 * 1024 * 1024;

/**
 * A hand-over of items from the claimed pages (the producer) to the renderer (the consumer) with
 * backpressure: `push` resolves once the consumer has taken the items, so at most one page is in
 * memory between them.
 */
class Feed<T> implements AsyncIterable<T> {
  private pending: T[] | null = null;
  private ended = false;
  private wakeConsumer: (() => void) | null = null;
  private wakeProducer: (() => void) | null = null;

  /** Resolves when the consumer has taken `items`. */
  async push(items: T[]): Promise<void> {
    if (this.ended) throw new Error('push after end');
    this.pending = items;
    this.wake();
    await new Promise<void>((resolve) => (this.wakeProducer = resolve));
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      while (!this.pending && !this.ended) await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      const items = this.pending;
      this.pending = null;
      if (items) {
        yield* items;
        const producer = this.wakeProducer;
        this.wakeProducer = null;
        producer?.();
      } else return;
    }
  }

  private wake(): void {
    const consumer = this.wakeConsumer;
    this.wakeConsumer = null;
    consumer?.();
  }
}

const setup = (workerData as { data: FileThreadSetup }).data;
const port = parentPort!;
const send = (reply: FileThreadReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

const cipher = new PanCipher(Buffer.from(setup.panKey), setup.previousPanKey && Buffer.from(setup.previousPanKey));
const format = makePersoFormat(setup.config);
/** valid cards screened and not yet claimed, by contract id */
const screened = new Map<number, PreparedCard>();
const feed = new Feed<PreparedCard>();
let rendering: Promise<void> | undefined;
let inFlight = 0;
let wakeSender: (() => void) | undefined;

/** Claimed pages not yet taken by the renderer, at most, before `claimed` makes the claim wait. */
const BACKLOG_PAGES = 4;
/** Claimed pages waiting for the renderer, in order. */
let backlog: Promise<void> = Promise.resolve();
let backlogPages = 0;

// Two lines of requests, each handled one at a time in order: screening, and the file (render,
// claimed, finish), so that a claimed page goes to the renderer while the next page is being
// screened. A page is only claimed after its verdict went back, so it has been screened.
const lines = { screening: Promise.resolve(), file: Promise.resolve() };
port.on('message', (msg: FileThreadRequest) => {
  if (msg.type === 'consumed') return taken(msg.bytes);
  const line = msg.type === 'screen' ? 'screening' : 'file';
  lines[line] = lines[line].then(() => handle(msg)).then(
    (answer) => send({ id: msg.id, type: 'done', ...answer }),
    (err) => send({ id: msg.id, type: 'failed', error: toWireError(err) }),
  );
});

async function handle(msg: Extract<FileThreadRequest, { id: number }>): Promise<{ verdict?: PageVerdict }> {
  switch (msg.type) {
    case 'screen': {
      const { verdict, prepared } = screenPage(msg.page, cipher, (contract) => format.validate(contract, setup.businessDate), setup.route);
      for (const card of prepared) screened.set(card.id, card);
      return { verdict };
    }
    case 'render':
      if (rendering) throw new Error('the file was started twice');
      rendering = render(msg.identity);
      rendering.catch(() => undefined); // awaited by finish
      return {};
    case 'claimed': {
      if (!rendering) throw new Error('cards claimed before the file was started');
      const cards = msg.contractIds.map(takeScreened);
      backlogPages++;
      const taken = backlog.then(() => feed.push(cards)).finally(() => backlogPages--);
      taken.catch(() => undefined); // the next push, finish or this wait sees it
      backlog = taken;
      // the claim goes on while the renderer has a few pages to do; past that it waits (bounded
      // memory). A file that stopped taking cards never answers: the main thread fails the claim.
      if (backlogPages > BACKLOG_PAGES) await taken;
      return {};
    }
    case 'finish':
      await backlog;
      feed.end();
      await rendering;
      return {};
  }
}

/** The card screened valid under this contract id, which the claim just took. */
function takeScreened(contractId: number): PreparedCard {
  const card = screened.get(contractId);
  if (!card) throw new Error(`the claim took contract ${contractId}, which was not screened valid`);
  screened.delete(contractId);
  return card;
}

/** Renders the file from the fed cards and sends it on; its end (with totals) or failure is sent too. */
async function render(identity: WireIdentity): Promise<void> {
  const file = format.renderPrepared({ ...identity, createdAt: new Date(identity.createdAt) }, feed);
  try {
    for await (const chunk of file.clear as AsyncIterable<Buffer>) {
      while (inFlight >= IN_FLIGHT_LIMIT) await new Promise<void>((resolve) => (wakeSender = resolve));
      // a copy of just this chunk (it may be a view of a larger buffer), moved to the main thread
      const data = Uint8Array.prototype.slice.call(chunk);
      inFlight += data.byteLength;
      send({ type: 'clear', data }, [data.buffer as ArrayBuffer]);
    }
    send({ type: 'clear-end', totals: file.totals() });
  } catch (err) {
    send({ type: 'clear-failed', error: toWireError(err) });
    throw err;
  }
}

function taken(bytes: number): void {
  inFlight -= bytes;
  if (inFlight < IN_FLIGHT_LIMIT) {
    const wake = wakeSender;
    wakeSender = undefined;
    wake?.();
  }
}
