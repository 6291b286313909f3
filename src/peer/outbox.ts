/**
 * Batches the frames of one tick into few writes and respects the stream's backpressure.
 * Frames from the binary framing share a slab, so consecutive ones are merged into one view
 * without copying; a batch goes out with one write (several under cork(), which Node turns
 * into one writev) at the end of the tick or as soon as it holds EARLY_WRITE_FRAMES frames.
 */
import type { Writable } from 'node:stream';
import type { ByteSink } from '../wire/framing.js';

/**
 * A batch is written once it holds this many frames, without waiting for the end of the tick.
 * With many requests in flight this lets the other side start on the first ones while this
 * side still produces the rest, instead of both sides taking turns on one big batch: on two
 * CPUs that more than doubles the throughput of small messages (bench/ipc), while a tick's
 * frames still leave in a few writes rather than one each.
 */
const EARLY_WRITE_FRAMES = 16;
export class Outbox implements ByteSink {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private queuedFrames = 0;
  private runBuffer: ArrayBufferLike | undefined = undefined;
  private runStart = 0;
  private runEnd = 0;
  /**
   * The last view pushed, with its buffer and offset: the binary framing pushes every frame of
   * a slab as the same view, and reading `.buffer` costs a call into the runtime each time.
   */
  private lastBytes: Uint8Array | undefined = undefined;
  private lastBuffer: ArrayBufferLike | undefined = undefined;
  private lastOffset = 0;
  private scheduled = false;
  private blocked = false;
  private closed = false;
  private readonly stream: Writable;
  private readonly flushBound = () => this.flush();
  private readonly onDrain = () => {
    this.blocked = false;
    this.flush();
  };

  /** Flush once the loop's ready I/O callbacks have run (setImmediate) rather than at the end of the tick. */
  private readonly perLoop: boolean;

  constructor(stream: Writable, perLoop = false) {
    this.stream = stream;
    this.perLoop = perLoop;
  }

  /** Bytes accepted but not yet handed to the OS (ours plus the stream's own buffer). */
  get bufferedBytes(): number {
    return this.queuedBytes + this.stream.writableLength;
  }

  push(bytes: Uint8Array, start = 0, end = bytes.length): void {
    if (this.closed) return;
    // Extend the current run when the frame starts where the last one ended in the same
    // memory; the view is only made at flush time.
    if (bytes !== this.lastBytes) {
      this.lastBytes = bytes;
      this.lastBuffer = bytes.buffer;
      this.lastOffset = bytes.byteOffset;
    }
    const buffer = this.lastBuffer;
    const from = this.lastOffset + start;
    if (buffer === this.runBuffer && from === this.runEnd) {
      this.runEnd += end - start;
    } else {
      this.endRun();
      this.runBuffer = buffer;
      this.runStart = from;
      this.runEnd = from + (end - start);
    }
    this.queuedBytes += end - start;
    if (++this.queuedFrames >= EARLY_WRITE_FRAMES && !this.blocked) this.write();
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true;
      // nextTick runs after the current microtask cascade, so responses produced by many
      // resolved promises of one read still leave together.
      if (this.perLoop) setImmediate(this.flushBound);
      else process.nextTick(this.flushBound);
    }
  }

  private endRun(): void {
    if (this.runBuffer !== undefined && this.runEnd > this.runStart) {
      this.queue.push(Buffer.from(this.runBuffer, this.runStart, this.runEnd - this.runStart));
    }
    this.runBuffer = undefined;
  }

  /**
   * Writes whatever is queued now. `force` writes even while waiting for 'drain': used before
   * a graceful end, when the stream's own buffer may hold the rest.
   */
  flush(force = false): void {
    this.scheduled = false;
    if ((this.blocked && !force) || this.closed) return;
    this.write();
  }

  private write(): void {
    this.endRun();
    if (this.queue.length === 0) return;
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) {
      this.discard();
      return;
    }
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.queuedFrames = 0;
    let ok: boolean;
    if (queue.length === 1) {
      ok = stream.write(queue[0]);
    } else {
      stream.cork();
      ok = true;
      for (const chunk of queue) ok = stream.write(chunk);
      stream.uncork();
    }
    if (!ok && !this.blocked) {
      this.blocked = true;
      stream.once('drain', this.onDrain);
    }
  }

  /** Drops everything queued; used when the stream is gone. */
  discard(): void {
    this.closed = true;
    this.queue = [];
    this.runBuffer = undefined;
    this.lastBytes = undefined;
    this.lastBuffer = undefined;
    this.queuedBytes = 0;
    this.stream.removeListener('drain', this.onDrain);
  }
}
