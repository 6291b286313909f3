/**
 * The last N items of a sequence (a ring buffer): the tail of an instance's stderr for
 * `warren status`, the recent lines of a service for `warren logs`.
 */
import { wholeNumber } from './options.js';

/** The last `capacity` items pushed, oldest first: a ring buffer of fixed size. */
export class TailBuffer<T> implements Iterable<T> {
  readonly capacity: number;
  /** Grows with the items pushed (a buffer of 1000 that got 3 holds 3), then wraps around. */
  private items: T[] = [];
  /** Index of the oldest item once the buffer is full (0 before). */
  private head = 0;

  constructor(capacity: number) {
    this.capacity = wholeNumber('capacity', capacity, 0, 0);
  }

  /** Items held (at most capacity). */
  get size(): number {
    return this.items.length;
  }

  /** Appends an item; returns the oldest one when it had to make room for it (the item itself when capacity is 0). */
  push(item: T): T | undefined {
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return undefined;
    }
    if (this.capacity === 0) return item;
    const evicted = this.items[this.head];
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    return evicted;
  }

  /** Every item, oldest first. */
  toArray(): T[] {
    return this.last(this.items.length);
  }

  /** The newest `n` items (all when n ≥ size), oldest first. */
  last(n: number): T[] {
    const size = this.items.length;
    const take = Number.isNaN(n) ? 0 : Math.max(0, Math.min(Math.floor(n), size));
    const out = new Array<T>(take);
    const first = this.head + size - take;
    for (let i = 0; i < take; i++) out[i] = this.items[(first + i) % size] as T;
    return out;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  [Symbol.iterator](): Iterator<T> {
    return this.toArray()[Symbol.iterator]();
  }
}
