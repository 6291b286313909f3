/**
 * Recovery: the last broadcasts of each channel, kept in a bounded ring per channel with their
 * offsets, so a client that reconnects with `since: { epoch, offset }` gets what it missed. The
 * epoch changes whenever the offsets could restart (a new hub process), so an offset from
 * another epoch is never trusted.
 */
import { randomBytes } from 'node:crypto';

export interface Recorded<T> {
  offset: number;
  at: number;
  entry: T;
}

// Grows up to its capacity instead of allocating it: most channels (user.<id> above all) see few
// broadcasts, and a preallocated ring each would cost more than their members.
class Ring<T> {
  readonly items: (Recorded<T> | undefined)[] = [];
  readonly capacity: number;
  start = 0;
  size = 0;
  /** The offset of the newest entry (0 before the first). */
  offset = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  push(entry: T, at: number): number {
    const capacity = this.capacity;
    this.offset++;
    if (capacity === 0) return this.offset;
    const record = { offset: this.offset, at, entry };
    if (this.size < capacity) {
      this.items[(this.start + this.size) % capacity] = record;
      this.size++;
    } else {
      this.items[this.start] = record;
      this.start = (this.start + 1) % capacity;
    }
    return this.offset;
  }

  at(index: number): Recorded<T> {
    return this.items[(this.start + index) % this.capacity]!;
  }
}

export type RecoveryResult<T> = { recovered: true; missed: Recorded<T>[] } | { recovered: false };

export class RecoveryLog<T> {
  readonly epoch: string;
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #rings = new Map<string, Ring<T>>();
  readonly #now: () => number;

  /** `capacity` entries per channel (0 keeps none), kept at most `windowMs`. */
  constructor(capacity: number, windowMs: number, now: () => number = Date.now) {
    this.epoch = randomBytes(8).toString('hex');
    this.#capacity = capacity;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Records a broadcast on `channel`; returns its offset (1, 2, 3, … per channel). */
  append(channel: string, entry: T): number {
    let ring = this.#rings.get(channel);
    if (ring === undefined) {
      ring = new Ring<T>(this.#capacity);
      this.#rings.set(channel, ring);
    }
    return ring.push(entry, this.#now());
  }

  /** The offset of the newest broadcast on `channel` (0 when none was made). */
  offset(channel: string): number {
    return this.#rings.get(channel)?.offset ?? 0;
  }

  /** What came after `offset` in `epoch`, or `recovered: false` when some of it is gone. */
  since(channel: string, epoch: string, offset: number): RecoveryResult<T> {
    if (epoch !== this.epoch || !Number.isSafeInteger(offset) || offset < 0) return { recovered: false };
    const ring = this.#rings.get(channel);
    const newest = ring?.offset ?? 0;
    if (offset > newest) return { recovered: false };
    if (ring === undefined || offset === newest) return { recovered: true, missed: [] };
    const oldest = ring.size === 0 ? newest + 1 : ring.at(0).offset;
    if (offset + 1 < oldest) return { recovered: false };
    const cutoff = this.#now() - this.#windowMs;
    const missed: Recorded<T>[] = [];
    for (let i = offset + 1 - oldest; i < ring.size; i++) {
      const record = ring.at(i);
      if (record.at < cutoff) return { recovered: false };
      missed.push(record);
    }
    return { recovered: true, missed };
  }

  /** Drops entries older than the window; a channel keeps its offset, so later offsets still follow on. */
  prune(): void {
    const cutoff = this.#now() - this.#windowMs;
    for (const ring of this.#rings.values()) {
      while (ring.size > 0 && ring.at(0).at < cutoff) {
        ring.items[ring.start] = undefined;
        ring.start = (ring.start + 1) % ring.capacity;
        ring.size--;
      }
    }
  }
}
