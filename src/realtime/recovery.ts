/**
 * Recovery: the last broadcasts of each channel with their offsets, so a client that reconnects
 * with `since: { epoch, offset }` gets what it missed. A RecoveryStore keeps them: the hub's own
 * RecoveryLog (below) or a store shared by a cluster of hubs (redis/recovery-store.ts).
 *
 * The RecoveryLog keeps a bounded ring per channel. Each ring has an epoch of its own (the
 * process's random epoch and the ring's number): when a ring is forgotten and made again, its
 * offsets restart under another epoch, so an offset from before is never trusted.
 */
import { randomBytes } from 'node:crypto';

export interface Position {
  epoch: string;
  /** The offset of the channel's newest broadcast (0 before the first). */
  offset: number;
}

export interface Recorded<T> {
  offset: number;
  at: number;
  entry: T;
}

/** `position` is the channel's position after what `missed` holds (for the subscribe ack). */
export type RecoveryResult<T> = { recovered: true; missed: Recorded<T>[]; position: Position } | { recovered: false; position: Position };

/** Where a hub keeps broadcasts for recovery. */
export interface RecoveryStore<T> {
  /**
   * true: positions are given by the Broadcaster with each message (one store for every hub);
   * false: this store numbers the broadcasts this hub receives.
   */
  readonly shared: boolean;
  /** A broadcast this hub received on `channel` (`position`: the one it came with, if any); returns its position. */
  record(channel: string, entry: T, position: Position | undefined): Position;
  /** The channel's current position (for a subscribe ack without `since`). */
  position(channel: string): Position | Promise<Position>;
  /** What came after `offset` in `epoch`, or `recovered: false` when some of it may be gone. */
  since(channel: string, epoch: string, offset: number): RecoveryResult<T> | Promise<RecoveryResult<T>>;
  /** The channel's last member on this hub left. */
  release(channel: string): void;
  /** Housekeeping, every heartbeat: `active(channel)` is true while the channel has members here. */
  prune(active: (channel: string) => boolean): void;
}

// Grows up to its capacity instead of allocating it: most channels (user.<id> above all) see few
// broadcasts, and a preallocated ring each would cost more than their members.
class Ring<T> {
  readonly items: (Recorded<T> | undefined)[] = [];
  readonly capacity: number;
  readonly epoch: string;
  start = 0;
  size = 0;
  /** The offset of the newest entry (0 before the first). */
  offset = 0;
  /** When the ring was last written, asked for or left by its last member here. */
  touched: number;

  constructor(capacity: number, epoch: string, now: number) {
    this.capacity = capacity;
    this.epoch = epoch;
    this.touched = now;
  }

  push(entry: T, at: number): number {
    const capacity = this.capacity;
    this.offset++;
    this.touched = at;
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

  shift(): void {
    this.items[this.start] = undefined;
    this.start = (this.start + 1) % this.capacity;
    this.size--;
  }
}

/**
 * The recovery store of one hub. A channel's ring lives while the channel has members here, and
 * afterwards (unless `forgetOnRelease`) until its entries are older than the window and `windowMs` passed since it was last
 * written or left: then it is forgotten, and a client that comes back with an offset of it is
 * answered `recovered: false`.
 */
export class RecoveryLog<T> implements RecoveryStore<T> {
  readonly shared = false;
  /** The process's part of every epoch. */
  readonly epoch: string;
  readonly #capacity: number;
  readonly #windowMs: number;
  readonly #rings = new Map<string, Ring<T>>();
  readonly #now: () => number;
  readonly #forgetOnRelease: boolean;
  #made = 0;

  /**
   * `capacity` entries per channel (0 keeps none), kept at most `windowMs`. `forgetOnRelease`:
   * the hub stops receiving a channel when its last member here leaves (a Broadcaster that
   * subscribes per channel), so the channel's ring is forgotten then.
   */
  constructor(capacity: number, windowMs: number, options: { now?: () => number; forgetOnRelease?: boolean } = {}) {
    this.epoch = randomBytes(8).toString('hex');
    this.#capacity = capacity;
    this.#windowMs = windowMs;
    this.#now = options.now ?? Date.now;
    this.#forgetOnRelease = options.forgetOnRelease ?? false;
  }

  /** Channels with a ring. */
  get channels(): number {
    return this.#rings.size;
  }

  #ring(channel: string): Ring<T> {
    let ring = this.#rings.get(channel);
    if (ring === undefined) {
      ring = new Ring<T>(this.#capacity, `${this.epoch}.${++this.#made}`, this.#now());
      this.#rings.set(channel, ring);
    }
    return ring;
  }

  /** Records a broadcast on `channel`; returns its offset (1, 2, 3, … per ring). */
  append(channel: string, entry: T): number {
    return this.#ring(channel).push(entry, this.#now());
  }

  record(channel: string, entry: T): Position {
    const ring = this.#ring(channel);
    ring.push(entry, this.#now());
    return { epoch: ring.epoch, offset: ring.offset };
  }

  position(channel: string): Position {
    const ring = this.#ring(channel);
    ring.touched = this.#now();
    return { epoch: ring.epoch, offset: ring.offset };
  }

  /** The offset of the newest broadcast on `channel` (0 when it has no ring). */
  offset(channel: string): number {
    return this.#rings.get(channel)?.offset ?? 0;
  }

  since(channel: string, epoch: string, offset: number): RecoveryResult<T> {
    const had = this.#rings.get(channel);
    const position = this.position(channel);
    // No ring (never had one, or forgotten): whatever the client's offset counted, it may have missed some.
    if (had === undefined || epoch !== had.epoch || !Number.isSafeInteger(offset) || offset < 0) return { recovered: false, position };
    const ring = had;
    const newest = ring.offset;
    if (offset > newest) return { recovered: false, position };
    if (offset === newest) return { recovered: true, missed: [], position };
    const oldest = ring.size === 0 ? newest + 1 : ring.at(0).offset;
    if (offset + 1 < oldest) return { recovered: false, position };
    const cutoff = this.#now() - this.#windowMs;
    const missed: Recorded<T>[] = [];
    for (let i = offset + 1 - oldest; i < ring.size; i++) {
      const record = ring.at(i);
      if (record.at < cutoff) return { recovered: false, position };
      missed.push(record);
    }
    return { recovered: true, missed, position };
  }

  release(channel: string): void {
    if (this.#forgetOnRelease) {
      this.#rings.delete(channel);
      return;
    }
    const ring = this.#rings.get(channel);
    if (ring !== undefined) ring.touched = this.#now();
  }

  /** Drops entries older than the window, and forgets the rings of channels idle here for longer than it. */
  prune(active: (channel: string) => boolean = () => false): void {
    const cutoff = this.#now() - this.#windowMs;
    for (const [channel, ring] of this.#rings) {
      while (ring.size > 0 && ring.at(0).at < cutoff) ring.shift();
      if (ring.size === 0 && ring.touched < cutoff && !active(channel)) this.#rings.delete(channel);
    }
  }
}
