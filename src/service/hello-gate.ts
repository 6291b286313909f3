/**
 * The frame limit of a connection that has not said hello yet. A connection that has not
 * authenticated may only send small frames (the hello itself is well under a KiB): a larger
 * one is refused from its header, before any of its payload is buffered, so that connections
 * that never authenticate cannot make an instance hold megabytes each.
 *
 * It wraps Warren's binary framing: while the gate is shut, feed() follows the frame headers
 * (the length is at a fixed offset) ahead of the decoder and fails the connection on the first
 * frame over the limit; once opened (after a good hello) bytes go straight to the decoder and
 * the connection has the peer's usual limit.
 */
import { FrameTooLargeError } from '../errors.js';
import { createBinaryFraming } from '../wire/binary.js';
import type { Framing, FramingFactory, FramingOptions, MessageSink } from '../wire/framing.js';
import { HEADER_SIZE, readU32 } from '../wire/header.js';

/** Where the payload length sits in a frame header. */
const LENGTH_OFFSET = 10;

/** Follows frame boundaries in a byte stream and reports the first frame over the limit. */
export class HelloGate {
  private open = false;
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerFill = 0;
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;

  /** Set by the framing: called once when the gate opens. */
  onOpen: (() => void) | undefined;

  constructor(readonly maxFrameBytes: number) {}

  /** The connection said hello: from now on its frames have the peer's limit. */
  openGate(): void {
    if (this.open) return;
    this.open = true;
    this.onOpen?.();
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** The length of the first frame in `chunk` over the limit, or -1 when there is none (so far). */
  scan(chunk: Buffer): number {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - pos);
        this.skip -= take;
        pos += take;
        continue;
      }
      const take = Math.min(HEADER_SIZE - this.headerFill, n - pos);
      chunk.copy(this.header, this.headerFill, pos, pos + take);
      this.headerFill += take;
      pos += take;
      if (this.headerFill < HEADER_SIZE) return -1;
      this.headerFill = 0;
      const length = readU32(this.header, LENGTH_OFFSET);
      if (length > this.maxFrameBytes) return length;
      this.skip = length;
    }
    return -1;
  }
}

/** The gates of the connections a server made, by their peer (the framing's sink). */
export type GateRegistry = WeakMap<MessageSink, HelloGate>;

/** A framing factory for a service's connections: binary framing behind a HelloGate per connection. */
export function gatedFraming(maxPreHelloFrameBytes: number, gates: GateRegistry): FramingFactory {
  return (options: FramingOptions): Framing => {
    const inner = createBinaryFraming(options);
    const gate = new HelloGate(maxPreHelloFrameBytes);
    gates.set(options.sink, gate);
    let failed = false;
    const feed = inner.feed.bind(inner);
    // Same object, one method replaced while the gate is shut: the encoding side is untouched,
    // and once open the decoder is fed directly again.
    inner.feed = (chunk: Buffer) => {
      if (failed) return;
      const length = gate.scan(chunk);
      if (length >= 0) {
        failed = true;
        options.sink.onFatal(new FrameTooLargeError(length, gate.maxFrameBytes));
        return;
      }
      feed(chunk);
    };
    gate.onOpen = () => {
      inner.feed = feed;
    };
    return inner;
  };
}
