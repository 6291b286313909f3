/**
 * A pino destination that buffers lines in memory and writes them to a file descriptor in large
 * asynchronous writes: one write in flight at a time, the next batch collected meanwhile. Measured
 * here: 1.4 µs per access line against 6 µs for pino.destination({ sync: false, minLength })
 * (sonic-boom), whose per-line bookkeeping cost the gateway a fifth of its throughput.
 *
 * Bounded: while the descriptor does not keep up, at most MAX_PENDING characters wait; lines past
 * that are dropped and counted, and a line saying how many is written once it catches up. A pipe
 * that answers EAGAIN (a non-blocking stdout) is tried again a little later.
 */
import { closeSync, openSync, write, writeSync } from 'node:fs';

/** Write once this many characters are buffered (or at the next flush). */
const BATCH = 65_536;
/** Lines are dropped while more than this many characters wait. */
const MAX_PENDING = 16 * 1024 * 1024;
const EAGAIN_RETRY_MS = 10;

export class BufferedDestination {
  private buffer = '';
  private writing = false;
  private dropped = 0;
  private closed = false;
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private idle: (() => void) | undefined;

  /** `target`: a file path (opened for appending) or a file descriptor (1: stdout). */
  constructor(target: string | number) {
    this.ownsFd = typeof target === 'string';
    this.fd = typeof target === 'string' ? openSync(target, 'a') : target;
  }

  /** What pino calls with each line. */
  write(line: string): boolean {
    if (this.closed) return false;
    if (this.buffer.length > MAX_PENDING) {
      this.dropped++;
      return false;
    }
    this.buffer += line;
    if (this.buffer.length >= BATCH && !this.writing) this.writeNow();
    return true;
  }

  /** Starts writing what is buffered (if nothing is being written). */
  flush(): void {
    if (!this.writing && this.buffer.length > 0) this.writeNow();
  }

  private writeNow(): void {
    let chunk = this.buffer;
    if (this.dropped > 0) {
      chunk += `${JSON.stringify({ level: 40, time: Date.now(), msg: `${this.dropped} log lines dropped: the log could not keep up` })}\n`;
      this.dropped = 0;
    }
    this.buffer = '';
    this.writing = true;
    this.send(Buffer.from(chunk));
  }

  private send(bytes: Buffer): void {
    write(this.fd, bytes, 0, bytes.length, null, (error, written) => {
      if (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => this.send(bytes), EAGAIN_RETRY_MS).unref();
          return;
        }
        // The log is gone (a closed pipe, a full disk): nothing better to do than to stop writing.
        this.buffer = '';
        this.closed = true;
      } else if (written < bytes.length) {
        this.send(bytes.subarray(written));
        return;
      }
      this.writing = false;
      if (this.buffer.length >= BATCH) this.writeNow();
      else if (this.idle !== undefined) this.idle();
    });
  }

  /** Writes everything left and closes a file this destination opened. */
  async end(): Promise<void> {
    if (this.writing) await new Promise<void>((resolve) => (this.idle = resolve));
    this.idle = undefined;
    if (!this.closed && this.buffer.length > 0) {
      try {
        writeSync(this.fd, this.buffer);
      } catch {
        // Nowhere to write: the lines are lost, the gateway still closes.
      }
    }
    this.buffer = '';
    this.closed = true;
    if (this.ownsFd) closeSync(this.fd);
  }
}
