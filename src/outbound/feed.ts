/**
 * A hand-over of items from a producer (the claim loop) to a consumer (the renderer) with
 * backpressure: `push` resolves once the consumer has taken the items, so at most one page is in
 * memory between them.
 */
export class Feed<T> implements AsyncIterable<T> {
  private pending: T[] | null = null;
  private ended = false;
  private failure: unknown = null;
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

  /** The consumer's iteration fails with `err` (the producer failed). */
  fail(err: unknown): void {
    this.failure = err ?? new Error('feed failed');
    this.end();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      while (!this.pending && !this.ended) await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      if (this.failure) throw this.failure;
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
