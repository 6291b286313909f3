/**
 * Warren's binary framing: 16-byte headers (header.ts) and codec-encoded payloads.
 *
 * Payload layouts:
 *   REQUEST, NOTIFY   u8 method length, method (UTF-8), params (codec)
 *   RESPONSE          result (codec); FLAG_STREAM when items follow
 *   ERROR             { code, message, data?, stack? } (codec; JSON when the codec is raw or unknown)
 *   PROGRESS, STREAM_ITEM   value (codec)
 *   CREDIT            u32 number of further items the reader accepts
 *   CANCEL, STREAM_END      empty
 * An empty payload means `undefined`.
 *
 * Frames are written into a slab with a bump pointer and never rewritten, so consecutive
 * frames of one tick are adjacent in memory and the outbox writes them with one system call
 * without copying them again.
 */
import { CodecError, FrameTooLargeError, invalidArgument, ProtocolError, type WarrenError } from '../errors.js';
import { type Codec, CodecId, codecById, jsonCodec, msgpackCodec } from './codecs.js';
import { FrameDecoder } from './decoder.js';
import {
  type ByteSink,
  DEFAULT_MAX_FRAME_SIZE,
  type Framing,
  type FramingOptions,
  type MessageSink,
  type RequestId,
  type WireError,
} from './framing.js';
import { FLAG_STREAM, FrameType, HEADER_SIZE, readU32, writeHeader } from './header.js';
import { MethodNames } from './method-names.js';

const SLAB_SIZE = 256 * 1024;
/** Frames larger than this get a buffer of their own instead of a slab's space. */
const DEDICATED_FRAME_SIZE = 64 * 1024;
const MAX_METHOD_BYTES = 255;

export class BinaryFraming implements Framing {
  readonly name = 'warren';
  readonly supportsStreams = true;
  readonly answersCancelled = false;
  private readonly sink: MessageSink;
  private readonly out: ByteSink;
  private readonly decoder: FrameDecoder;
  private readonly maxFrameSize: number;
  private readonly defaultCodec: Codec;
  private slab: Buffer = Buffer.allocUnsafe(SLAB_SIZE);
  private readonly methodNames = new MethodNames();
  private slabPos = 0;

  constructor(options: FramingOptions) {
    this.sink = options.sink;
    this.out = options.out;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.defaultCodec = (options.codec === undefined ? undefined : codecById(options.codec)) ?? msgpackCodec;
    const sink = this.sink;
    this.decoder = new FrameDecoder({
      maxFrameSize: this.maxFrameSize,
      lenient: options.lenient ?? false,
      onFrameRange: (type, codec, flags, id, buf, start, end) => this.dispatch(type, codec, flags, id, buf, start, end),
      onError: (error) => sink.onFatal(error),
      onJunk: (bytes) => sink.onJunk(bytes),
    });
  }

  feed(chunk: Buffer): void {
    this.decoder.push(chunk);
  }

  setReceiveLimit(bytes: number): void {
    this.decoder.setMaxFrameSize(bytes);
  }

  end(): void {
    this.decoder.end();
  }

  // ---- encoding -------------------------------------------------------------------------

  writeRequest(id: RequestId, method: string, params: unknown, codec?: number): void {
    this.write(FrameType.REQUEST, this.codec(codec), 0, id, method, params);
  }

  writeNotify(method: string, params: unknown, codec?: number): void {
    this.write(FrameType.NOTIFY, this.codec(codec), 0, 0, method, params);
  }

  writeResponse(id: RequestId, result: unknown, stream: boolean, codec?: number): void {
    this.write(FrameType.RESPONSE, this.replyCodec(codec, result), stream ? FLAG_STREAM : 0, id, null, result);
  }

  writeError(id: RequestId, error: WireError, codec?: number): void {
    // An error is an object: a raw request, or one in a codec this side does not know, gets it
    // in JSON, which every client can read (docs/protocol.md §4.1).
    const known = codec === undefined ? this.defaultCodec : codecById(codec);
    const c = known === undefined || known.id === CodecId.raw ? jsonCodec : known;
    const body: WireError = { code: error.code, message: error.message };
    if (error.data !== undefined) body.data = error.data;
    if (error.stack !== undefined) body.stack = error.stack;
    try {
      this.write(FrameType.ERROR, c, 0, id, null, body);
    } catch (cause) {
      // The error's data itself could not be encoded: send the error without it.
      this.write(FrameType.ERROR, c, 0, id, null, {
        code: error.code,
        message: `${error.message} (error data not encodable: ${(cause as Error).message})`,
      });
    }
  }

  writeCancel(id: RequestId): void {
    this.write(FrameType.CANCEL, this.defaultCodec, 0, id, null, undefined);
  }

  writeProgress(id: RequestId, value: unknown, codec?: number): void {
    this.write(FrameType.PROGRESS, this.replyCodec(codec, value), 0, id, null, value);
  }

  writeStreamItem(id: RequestId, value: unknown, codec?: number): void {
    this.write(FrameType.STREAM_ITEM, this.replyCodec(codec, value), 0, id, null, value);
  }

  writeStreamEnd(id: RequestId): void {
    this.write(FrameType.STREAM_END, this.defaultCodec, 0, id, null, undefined);
  }

  writeCredit(id: RequestId, credit: number): void {
    const bytes = Buffer.allocUnsafe(4);
    bytes.writeUInt32BE(credit >>> 0, 0);
    this.write(FrameType.CREDIT, codecById(0) as Codec, 0, id, null, bytes);
  }

  /**
   * Answers go out in the request's codec, so the caller can read them; a raw request whose
   * answer is not bytes or a string is answered in JSON, which any client can read (§4.1).
   */
  private replyCodec(id: number | undefined, value: unknown): Codec {
    const codec = this.codec(id);
    if (codec.id !== CodecId.raw || value === undefined || value instanceof Uint8Array || typeof value === 'string') return codec;
    return jsonCodec;
  }

  private codec(id: number | undefined): Codec {
    if (id === undefined) return this.defaultCodec;
    const codec = codecById(id);
    if (!codec) throw invalidArgument(`unknown codec id ${id}`);
    return codec;
  }

  /** Encodes one frame into the slab and hands it to the outbox. Throws CodecError or FrameTooLargeError; nothing is written then. */
  private write(type: number, codec: Codec, flags: number, id: RequestId, method: string | null, value: unknown): void {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw invalidArgument(`Warren frames carry request ids from 0 to 2^32-1, got ${JSON.stringify(id)}`);
    }
    let encoded: Uint8Array | string | undefined;
    // Bytes [from, to) of `encoded`: all of it, or the range a transient encoder wrote.
    let from = 0;
    let to = 0;
    if (value !== undefined) {
      try {
        if (codec.encodeTransient !== undefined) {
          const range = codec.encodeTransient(value);
          encoded = range.bytes;
          from = range.start;
          to = range.end;
        } else {
          encoded = codec.encode(value);
          if (typeof encoded !== 'string') to = encoded.length;
        }
      } catch (cause) {
        if (cause instanceof CodecError) throw cause;
        throw new CodecError(`cannot encode with the ${codec.name} codec: ${(cause as Error).message}`, { cause });
      }
    }
    let methodBytes: Buffer | undefined;
    if (method !== null) {
      methodBytes = this.methodNames.encode(method);
      if (methodBytes.length > MAX_METHOD_BYTES) {
        throw invalidArgument(`method names are at most ${MAX_METHOD_BYTES} bytes, got ${methodBytes.length}`);
      }
    }
    const prefix = methodBytes === undefined ? 0 : 1 + methodBytes.length;
    // A string is written as UTF-8 in place: reserve its worst case, three bytes per UTF-16 unit.
    const payloadMax = encoded === undefined ? 0 : typeof encoded === 'string' ? encoded.length * 3 : to - from;
    const reserve = HEADER_SIZE + prefix + payloadMax;

    let buf: Buffer;
    let start: number;
    if (reserve > DEDICATED_FRAME_SIZE) {
      const exact = typeof encoded === 'string' ? HEADER_SIZE + prefix + Buffer.byteLength(encoded) : reserve;
      this.checkSize(exact - HEADER_SIZE);
      buf = Buffer.allocUnsafe(exact);
      start = 0;
    } else {
      if (this.slabPos + reserve > this.slab.length) {
        this.slab = Buffer.allocUnsafe(SLAB_SIZE);
        this.slabPos = 0;
      }
      buf = this.slab;
      start = this.slabPos;
    }

    let p = start + HEADER_SIZE;
    if (methodBytes !== undefined) {
      const n = methodBytes.length;
      buf[p++] = n;
      // Names are short: a loop beats a native copy's call overhead.
      for (let i = 0; i < n; i++) buf[p++] = methodBytes[i] as number;
    }
    if (encoded !== undefined) {
      if (typeof encoded === 'string') p += buf.write(encoded, p, 'utf8');
      else if (from === 0 && to === encoded.length) {
        buf.set(encoded, p);
        p += to;
      } else {
        // A range of a reused buffer. Short ones are copied byte by byte (cheaper than making a
        // view); longer ones through a plain Uint8Array view (cheaper than Buffer#subarray).
        const n = to - from;
        if (n <= 64) {
          for (let i = from; i < to; i++) buf[p++] = encoded[i] as number;
        } else {
          buf.set(new Uint8Array(encoded.buffer, encoded.byteOffset + from, n), p);
          p += n;
        }
      }
    }
    const length = p - start - HEADER_SIZE;
    this.checkSize(length);
    writeHeader(buf, start, type, codec.id, flags, id, length);
    if (buf === this.slab) this.slabPos = p;
    this.out.push(buf, start, p);
  }

  private checkSize(length: number): void {
    if (length > this.maxFrameSize) throw new FrameTooLargeError(length, this.maxFrameSize);
  }

  // ---- decoding -------------------------------------------------------------------------

  private dispatch(type: number, codecId: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const sink = this.sink;
    switch (type) {
      case FrameType.REQUEST:
      case FrameType.NOTIFY: {
        const replyId = type === FrameType.REQUEST ? id : 0;
        // Id 0 belongs to NOTIFY: a REQUEST with it could never be answered (no caller waits on
        // id 0), so it is reported like an undecodable notification and never run.
        if (type === FrameType.REQUEST && id === 0) {
          sink.onBadRequest(0, new ProtocolError('a REQUEST with id 0 (ids of requests are 1 to 2^32-1)'), codecId);
          return;
        }
        const methodLength = end > start ? (buf[start] as number) : -1;
        if (methodLength < 0 || end - start < 1 + methodLength) {
          sink.onBadRequest(replyId, new CodecError('request frame without a complete method name'), codecId);
          return;
        }
        // A request is answered in its own codec: one in a codec this side lacks cannot be served
        // (answering it would throw), even when it has no params to decode.
        if (codecById(codecId) === undefined) {
          sink.onBadRequest(replyId, new CodecError(`unknown codec id ${codecId}`), codecId);
          return;
        }
        const method = this.methodNames.decode(buf, start + 1, start + 1 + methodLength);
        let params: unknown;
        try {
          params = this.decode(codecId, buf, start + 1 + methodLength, end);
        } catch (error) {
          sink.onBadRequest(replyId, error as WarrenError, codecId);
          return;
        }
        if (type === FrameType.REQUEST) sink.receiveRequest(id, method, params, codecId);
        else sink.receiveNotify(method, params);
        return;
      }
      case FrameType.RESPONSE: {
        let result: unknown;
        try {
          result = this.decode(codecId, buf, start, end);
        } catch (error) {
          sink.onError(id, { code: 'WARREN_CODEC', message: (error as Error).message });
          return;
        }
        sink.onResponse(id, result, (flags & FLAG_STREAM) !== 0);
        return;
      }
      case FrameType.ERROR: {
        let body: unknown;
        try {
          body = this.decode(codecId, buf, start, end);
        } catch (error) {
          sink.onError(id, { code: 'WARREN_CODEC', message: `undecodable error response: ${(error as Error).message}` });
          return;
        }
        sink.onError(id, toWireError(body));
        return;
      }
      case FrameType.CANCEL:
        sink.onCancel(id);
        return;
      case FrameType.PROGRESS:
      case FrameType.STREAM_ITEM: {
        let value: unknown;
        try {
          value = this.decode(codecId, buf, start, end);
        } catch (error) {
          sink.onError(id, { code: 'WARREN_CODEC', message: (error as Error).message });
          return;
        }
        if (type === FrameType.PROGRESS) sink.onProgress(id, value);
        else sink.onStreamItem(id, value);
        return;
      }
      case FrameType.STREAM_END:
        sink.onStreamEnd(id);
        return;
      case FrameType.CREDIT:
        if (end - start !== 4) {
          sink.onBadCredit(id, new ProtocolError(`credit frame with a ${end - start}-byte payload`));
          return;
        }
        sink.onCredit(id, readU32(buf, start));
        return;
    }
  }

  private decode(codecId: number, buf: Buffer, start: number, end: number): unknown {
    if (end === start) return undefined;
    const codec = codecById(codecId);
    if (!codec) throw new CodecError(`unknown codec id ${codecId}`);
    try {
      return codec.decodeRange ? codec.decodeRange(buf, start, end) : codec.decode(buf.subarray(start, end));
    } catch (cause) {
      throw new CodecError(`cannot decode a ${codec.name} payload: ${(cause as Error).message}`, { cause });
    }
  }
}

/** Reads an error body defensively: it came from outside the process. */
function toWireError(body: unknown): WireError {
  if (typeof body !== 'object' || body === null) {
    return { code: 'WARREN_REMOTE_ERROR', message: typeof body === 'string' ? body : 'remote error' };
  }
  const b = body as Record<string, unknown>;
  const error: WireError = {
    code: typeof b.code === 'string' && b.code.length > 0 ? b.code : 'WARREN_REMOTE_ERROR',
    message: typeof b.message === 'string' ? b.message : 'remote error',
  };
  if (b.data !== undefined) error.data = b.data;
  if (typeof b.stack === 'string') error.stack = b.stack;
  return error;
}

export function createBinaryFraming(options: FramingOptions): Framing {
  return new BinaryFraming(options);
}
