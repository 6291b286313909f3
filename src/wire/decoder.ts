/**
 * Streaming decoder for Warren frames: an explicit two-state machine (HEADER, PAYLOAD) fed
 * with chunks as they arrive. A payload that lies inside one chunk is handed on as a
 * zero-copy subarray; one that spans chunks is copied once into a buffer of its announced
 * size, so large frames never cost quadratic copying. The size limit is checked from the
 * header, before a byte of the payload is buffered.
 */
import { FrameTooLargeError, ProtocolError, type WarrenError } from '../errors.js';
import { DEFAULT_MAX_FRAME_SIZE } from './framing.js';
import { HEADER_SIZE, headerProblem, MAGIC_0, MAGIC_1, readU32 } from './header.js';

export type FrameHandler = (type: number, codec: number, flags: number, id: number, payload: Buffer) => void;
/**
 * The same, with the payload given as a range of a buffer: the framing's hot path uses it to
 * decode straight from the chunk without making a view per frame.
 */
export type FrameRangeHandler = (
  type: number,
  codec: number,
  flags: number,
  id: number,
  buffer: Buffer,
  start: number,
  end: number,
) => void;

export interface FrameDecoderOptions {
  /** Receives each frame (give this or onFrameRange). */
  onFrame?: FrameHandler;
  onFrameRange?: FrameRangeHandler;
  /** Called once; the decoder then ignores further input. */
  onError: (error: WarrenError) => void;
  /** Bytes skipped before a valid header; only called in lenient mode. */
  onJunk?: (bytes: Buffer) => void;
  maxFrameSize?: number;
  /** Skip bytes that are not a valid header (a child's stdout) instead of failing. */
  lenient?: boolean;
}

const EMPTY = Buffer.alloc(0);
enum State {
  HEADER = 0,
  PAYLOAD = 1,
  FAILED = 2,
}

export class FrameDecoder {
  private state = State.HEADER;
  // A header split across chunks is gathered here.
  private readonly headerBuf = Buffer.alloc(HEADER_SIZE);
  private headerFill = 0;
  // The frame being read.
  private type = 0;
  private codec = 0;
  private flags = 0;
  private id = 0;
  private length = 0;
  private payload: Buffer = EMPTY;
  private payloadFill = 0;

  private readonly onFrame: FrameRangeHandler;
  private readonly onError: (error: WarrenError) => void;
  private readonly onJunk: (bytes: Buffer) => void;
  private maxFrameSize: number;
  private readonly lenient: boolean;

  constructor(options: FrameDecoderOptions) {
    const { onFrame, onFrameRange } = options;
    if (onFrameRange) this.onFrame = onFrameRange;
    else if (onFrame)
      this.onFrame = (type, codec, flags, id, buffer, start, end) =>
        onFrame(type, codec, flags, id, start === 0 && end === buffer.length ? buffer : buffer.subarray(start, end));
    else throw new TypeError('FrameDecoder needs onFrame or onFrameRange');
    this.onError = options.onError;
    this.onJunk = options.onJunk ?? (() => {});
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.lenient = options.lenient ?? false;
  }

  /**
   * Changes the largest payload accepted from the next header on (a frame whose header was
   * already read keeps the limit it was checked against). A service lowers it for connections
   * that have not authenticated yet and raises it after their hello.
   */
  setMaxFrameSize(bytes: number): void {
    this.maxFrameSize = bytes;
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.state === State.HEADER && this.headerFill === 0;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.state === State.PAYLOAD) {
        const take = Math.min(this.length - this.payloadFill, n - pos);
        chunk.copy(this.payload, this.payloadFill, pos, pos + take);
        this.payloadFill += take;
        pos += take;
        if (this.payloadFill === this.length) {
          const payload = this.payload;
          this.payload = EMPTY;
          this.state = State.HEADER;
          this.onFrame(this.type, this.codec, this.flags, this.id, payload, 0, payload.length);
        }
        continue;
      }
      if (this.state === State.FAILED) return;

      // HEADER
      if (this.headerFill === 0) {
        if (this.lenient) {
          const start = findMagic(chunk, pos);
          if (start > pos) {
            this.onJunk(chunk.subarray(pos, start));
            pos = start;
            if (pos === n) return;
          }
        }
        if (n - pos >= HEADER_SIZE) {
          // Fast path: the whole header is inside this chunk.
          const problem = headerProblem(chunk, pos);
          if (problem !== null) {
            if (this.lenient && isJunkProblem(problem)) {
              this.onJunk(chunk.subarray(pos, pos + 1));
              pos += 1;
              continue;
            }
            this.fail(
              new ProtocolError(`invalid frame header: ${problem}`, { data: { header: chunk.toString('hex', pos, pos + HEADER_SIZE) } }),
            );
            return;
          }
          this.readFields(chunk, pos);
          pos += HEADER_SIZE;
        } else {
          chunk.copy(this.headerBuf, 0, pos, n);
          this.headerFill = n - pos;
          return;
        }
      } else {
        const take = Math.min(HEADER_SIZE - this.headerFill, n - pos);
        chunk.copy(this.headerBuf, this.headerFill, pos, pos + take);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < HEADER_SIZE) return;
        const problem = headerProblem(this.headerBuf, 0);
        if (problem !== null) {
          if (this.lenient && isJunkProblem(problem)) {
            this.resyncHeaderBuf();
            continue;
          }
          this.fail(new ProtocolError(`invalid frame header: ${problem}`, { data: { header: this.headerBuf.toString('hex') } }));
          return;
        }
        this.readFields(this.headerBuf, 0);
        this.headerFill = 0;
      }

      // A valid header has been read.
      if (this.length > this.maxFrameSize) {
        this.fail(new FrameTooLargeError(this.length, this.maxFrameSize));
        return;
      }
      if (this.length === 0) {
        this.onFrame(this.type, this.codec, this.flags, this.id, EMPTY, 0, 0);
      } else if (n - pos >= this.length) {
        const start = pos;
        pos += this.length;
        this.onFrame(this.type, this.codec, this.flags, this.id, chunk, start, pos);
      } else {
        this.payload = Buffer.allocUnsafe(this.length);
        this.payloadFill = 0;
        this.state = State.PAYLOAD;
      }
    }
  }

  /** The stream ended. A frame cut short is a protocol error; leftover junk is reported. */
  end(): void {
    if (this.state === State.FAILED) return;
    if (this.state === State.PAYLOAD) {
      this.fail(new ProtocolError(`stream ended inside a frame: ${this.payloadFill} of ${this.length} payload bytes received`));
      return;
    }
    if (this.headerFill > 0) {
      if (this.lenient) {
        this.onJunk(Buffer.from(this.headerBuf.subarray(0, this.headerFill)));
        this.headerFill = 0;
        return;
      }
      this.fail(new ProtocolError(`stream ended inside a frame header: ${this.headerFill} of ${HEADER_SIZE} bytes received`));
    }
  }

  private readFields(buf: Buffer, at: number): void {
    this.type = buf[at + 3] as number;
    this.codec = buf[at + 4] as number;
    this.flags = buf[at + 5] as number;
    this.id = readU32(buf, at + 6);
    this.length = readU32(buf, at + 10);
  }

  private fail(error: WarrenError): void {
    this.state = State.FAILED;
    this.payload = EMPTY;
    this.onError(error);
  }

  /**
   * Lenient mode, the gathered header is junk: report bytes up to the next place a header
   * could start and keep the rest, which may be the beginning of a real frame.
   */
  private resyncHeaderBuf(): void {
    const buf = this.headerBuf;
    let next = 1;
    while (next < HEADER_SIZE && !(buf[next] === MAGIC_0 && (next === HEADER_SIZE - 1 || buf[next + 1] === MAGIC_1))) next++;
    this.onJunk(Buffer.from(buf.subarray(0, next)));
    buf.copy(buf, 0, next, HEADER_SIZE);
    this.headerFill = HEADER_SIZE - next;
  }
}

/** Only a bad magic or a failed header check mean "not a frame"; anything else is a real frame we cannot read. */
function isJunkProblem(problem: string): boolean {
  return problem === 'bad magic' || problem.startsWith('header check');
}

/** Index of the first place at or after `from` where a header could start (chunk length if none). */
function findMagic(chunk: Buffer, from: number): number {
  const n = chunk.length;
  let i = chunk.indexOf(MAGIC_0, from);
  while (i !== -1) {
    if (i + 1 === n || chunk[i + 1] === MAGIC_1) return i;
    i = chunk.indexOf(MAGIC_0, i + 1);
  }
  return n;
}
