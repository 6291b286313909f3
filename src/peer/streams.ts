/**
 * Streams with credit-based flow control. The producer may send one item unasked
 * (INITIAL_STREAM_CREDIT); the consumer grants the rest of its window as the stream opens and
 * more as it reads, in batches of half a window; the producer waits when its credit runs out.
 * A fast producer can therefore never hold more than `window` items in the consumer's memory.
 */
import { CancelledError } from '../errors.js';

export interface IncomingStreamLink {
  /** Grants the producer `n` more items. */
  credit(n: number): void;
  /** Tells the producer to stop (the consumer left early). */
  cancel(): void;
}

/** The consumer side: what `await peer.request(...)` resolves to when the handler returned an AsyncIterable. */
export class IncomingStream<T = unknown> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private head = 0;
  private finished = false;
  private error: Error | undefined = undefined;
  private wake: (() => void) | undefined = undefined;
  private consumed = 0;

  constructor(
    private readonly window: number,
    private readonly link: IncomingStreamLink,
  ) {}

  /** Queues an item; false when the producer exceeded its credit. */
  push(item: T): boolean {
    if (this.finished) return true;
    if (this.items.length - this.head >= this.window) return false;
    this.items.push(item);
    this.wakeUp();
    return true;
  }

  end(): void {
    this.finished = true;
    this.wakeUp();
  }

  fail(error: Error): void {
    if (this.finished) return;
    this.error = error;
    this.finished = true;
    this.wakeUp();
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.head < this.items.length) {
        const value = this.items[this.head] as T;
        this.head++;
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items.splice(0, this.head);
          this.head = 0;
        }
        if (!this.finished && ++this.consumed * 2 >= this.window) {
          this.link.credit(this.consumed);
          this.consumed = 0;
        }
        return { value, done: false };
      }
      if (this.error) throw this.error;
      if (this.finished) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Called by `break` in a for-await loop: the producer is told to stop. */
  async return(): Promise<IteratorResult<T>> {
    if (!this.finished) {
      this.finished = true;
      this.items.length = 0;
      this.head = 0;
      this.link.cancel();
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

export interface StreamPumpLink {
  /** Credit the producer starts with. */
  window: number;
  isCancelled(): boolean;
  /** Resolves with newly granted credit; 0 means give up (cancelled or closed). */
  waitForCredit(): Promise<number>;
  item(value: unknown): void;
  end(): void;
  fail(error: unknown): void;
}

/** The producer side: sends a handler's AsyncIterable item by item within the credit granted. */
export async function pumpStream(source: AsyncIterable<unknown>, link: StreamPumpLink): Promise<void> {
  const iterator = source[Symbol.asyncIterator]();
  let credit = link.window;
  try {
    for (;;) {
      // The next item is taken before waiting for credit: only items need credit, so the end
      // of the stream (or the error that ends it) goes out at once, and a consumer that grants
      // exactly N items for N items still sees the end (docs/protocol.md §9).
      const step = await iterator.next();
      if (link.isCancelled()) throw new CancelledError();
      if (step.done) {
        link.end();
        return;
      }
      while (credit === 0) {
        if (link.isCancelled()) throw new CancelledError();
        credit = await link.waitForCredit();
        if (credit === 0 && link.isCancelled()) throw new CancelledError();
      }
      try {
        link.item(step.value);
      } catch (error) {
        // This side could not send the item (e.g. not encodable): stop the source as for-of would.
        await iterator.return?.().catch(() => {});
        throw error;
      }
      credit--;
    }
  } catch (error) {
    if (error instanceof CancelledError || link.isCancelled()) {
      await iterator.return?.().catch(() => {});
      return;
    }
    link.fail(error);
  }
}
