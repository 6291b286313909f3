import { afterEach, describe, expect, it, vi } from 'vitest';
import { FrameTooLargeError, isWarrenError, ProtocolError, type WarrenError } from '../../src/errors.js';
import { FrameDecoder, type FrameDecoderOptions } from '../../src/wire/decoder.js';
import { crc16, FrameType, HEADER_SIZE, writeHeader } from '../../src/wire/header.js';

interface Frame {
  type: number;
  codec: number;
  flags: number;
  id: number;
  payload: Buffer;
}

type Event = { kind: 'frame'; frame: Frame; raw: Buffer } | { kind: 'junk'; bytes: Buffer } | { kind: 'error'; error: WarrenError };

/** One complete frame: a valid header followed by the payload. */
function frame(type: number, id: number, payload: Buffer | string = Buffer.alloc(0), codec = 1, flags = 0): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const buf = Buffer.alloc(HEADER_SIZE + body.length);
  writeHeader(buf, 0, type, codec, flags, id, body.length);
  body.copy(buf, HEADER_SIZE);
  return buf;
}

/** A header with any field values, with a valid check over them. */
function rawHeader(bytes: number[]): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  Buffer.from(bytes).copy(buf);
  const crc = crc16(buf, 0, 14);
  buf[14] = crc >>> 8;
  buf[15] = crc & 0xff;
  return buf;
}

/** A decoder that records everything it reports, in order. Payloads are copied as they arrive. */
function recorder(options: Partial<FrameDecoderOptions> = {}) {
  const events: Event[] = [];
  const decoder = new FrameDecoder({
    ...options,
    onFrame: (type, codec, flags, id, payload) =>
      events.push({ kind: 'frame', frame: { type, codec, flags, id, payload: Buffer.from(payload) }, raw: payload }),
    onError: (error) => events.push({ kind: 'error', error }),
    onJunk: (bytes) => events.push({ kind: 'junk', bytes: Buffer.from(bytes) }),
  });
  const frames = () => events.flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));
  const errors = () => events.flatMap((e) => (e.kind === 'error' ? [e.error] : []));
  const junk = () => Buffer.concat(events.flatMap((e) => (e.kind === 'junk' ? [e.bytes] : [])));
  /** Events with adjacent junk merged, since junk may be reported in several pieces. */
  const merged = () => {
    const out: (Frame | { junk: string } | { error: string })[] = [];
    for (const e of events) {
      if (e.kind === 'frame') out.push(e.frame);
      else if (e.kind === 'error') out.push({ error: e.error.code });
      else {
        const last = out[out.length - 1];
        if (last && 'junk' in last) last.junk += e.bytes.toString('latin1');
        else out.push({ junk: e.bytes.toString('latin1') });
      }
    }
    return out;
  };
  return { decoder, events, frames, errors, junk, merged };
}

function feedInChunks(decoder: FrameDecoder, bytes: Buffer, size: number): void {
  for (let i = 0; i < bytes.length; i += size) decoder.push(bytes.subarray(i, i + size));
}

function onlyError(errors: WarrenError[]): WarrenError {
  expect(errors).toHaveLength(1);
  return errors[0] as WarrenError;
}

/** Six frames of every payload size around the header size, empty payloads included. */
const MIXED = [
  { type: FrameType.REQUEST, codec: 1, flags: 0, id: 1, payload: Buffer.from('\x04echo{"a":1}') },
  { type: FrameType.CANCEL, codec: 2, flags: 0, id: 1, payload: Buffer.alloc(0) },
  { type: FrameType.RESPONSE, codec: 2, flags: 1, id: 2, payload: Buffer.alloc(0) },
  { type: FrameType.STREAM_ITEM, codec: 2, flags: 0, id: 2, payload: Buffer.from([0x57]) },
  { type: FrameType.CREDIT, codec: 0, flags: 0, id: 0xffffffff, payload: Buffer.from([0, 0, 0, 32]) },
  { type: FrameType.NOTIFY, codec: 1, flags: 0, id: 0, payload: Buffer.alloc(16, 0x57) },
  { type: FrameType.PROGRESS, codec: 1, flags: 0, id: 3, payload: Buffer.from(`${'x'.repeat(15)}`) },
  { type: FrameType.ERROR, codec: 3, flags: 0, id: 4, payload: Buffer.alloc(300, 0xae) },
] satisfies Frame[];
const MIXED_BYTES = Buffer.concat(MIXED.map((f) => frame(f.type, f.id, f.payload, f.codec, f.flags)));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('FrameDecoder: splitting and batching', () => {
  it('decodes the same frames whatever byte position the stream is split at', () => {
    for (let cut = 0; cut <= MIXED_BYTES.length; cut++) {
      const r = recorder();
      r.decoder.push(MIXED_BYTES.subarray(0, cut));
      r.decoder.push(MIXED_BYTES.subarray(cut));
      r.decoder.end();
      expect(r.errors(), `cut at ${cut}`).toEqual([]);
      expect(r.frames(), `cut at ${cut}`).toEqual(MIXED);
      expect(r.decoder.idle).toBe(true);
    }
  });

  it('decodes the same frames when split at every pair of positions', () => {
    const bytes = MIXED_BYTES.subarray(0, MIXED_BYTES.length - 300 - HEADER_SIZE); // without the long frame, to keep this quadratic loop short
    const expected = MIXED.slice(0, -1);
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 3) {
        const r = recorder();
        r.decoder.push(bytes.subarray(0, a));
        r.decoder.push(bytes.subarray(a, b));
        r.decoder.push(bytes.subarray(b));
        expect(r.frames(), `cuts at ${a}, ${b}`).toEqual(expected);
      }
    }
  });

  it('decodes the same frames fed one byte at a time, including empty chunks', () => {
    const r = recorder();
    for (let i = 0; i < MIXED_BYTES.length; i++) {
      r.decoder.push(MIXED_BYTES.subarray(i, i + 1));
      r.decoder.push(Buffer.alloc(0));
    }
    r.decoder.end();
    expect(r.errors()).toEqual([]);
    expect(r.frames()).toEqual(MIXED);
  });

  it('decodes many frames from a single chunk, in order', () => {
    const parts: Buffer[] = [];
    for (let id = 1; id <= 1000; id++) parts.push(frame(FrameType.STREAM_ITEM, id, Buffer.from(String(id))));
    const r = recorder();
    r.decoder.push(Buffer.concat(parts));
    const frames = r.frames();
    expect(frames).toHaveLength(1000);
    expect(frames.map((f) => f.id)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(frames.map((f) => f.payload.toString())).toEqual(Array.from({ length: 1000 }, (_, i) => String(i + 1)));
  });

  it('reports idle only between frames', () => {
    const r = recorder();
    const bytes = frame(FrameType.PROGRESS, 9, 'payload');
    expect(r.decoder.idle).toBe(true);
    r.decoder.push(bytes.subarray(0, 5));
    expect(r.decoder.idle).toBe(false);
    r.decoder.push(bytes.subarray(5, HEADER_SIZE + 2));
    expect(r.decoder.idle).toBe(false);
    r.decoder.push(bytes.subarray(HEADER_SIZE + 2));
    expect(r.decoder.idle).toBe(true);
    expect(r.frames()).toHaveLength(1);
  });
});

describe('FrameDecoder: buffers', () => {
  it('delivers a 4 MiB frame fed in 64 KiB chunks intact, allocating its payload buffer once', () => {
    const size = 4 * 1024 * 1024;
    const payload = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31 + (i >>> 16)) & 0xff;
    const bytes = frame(FrameType.RESPONSE, 7, payload, 0);

    const r = recorder();
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const copy = vi.spyOn(Buffer.prototype, 'copy');
    const chunk = 64 * 1024;
    for (let i = 0; i < bytes.length; i += chunk) {
      expect(r.frames(), 'no frame before the last chunk').toHaveLength(0);
      r.decoder.push(bytes.subarray(i, i + chunk));
    }
    const allocSizes = alloc.mock.calls.map((c) => c[0]);
    // Buffer#copy(target, targetStart, sourceStart, sourceEnd): count the source bytes of each call.
    const copied = copy.mock.calls.reduce((sum, c) => {
      const [, , sourceStart = 0, sourceEnd = bytes.length] = c as unknown as [unknown, number?, number?, number?];
      return sum + Math.min(sourceEnd, bytes.length) - sourceStart;
    }, 0);
    alloc.mockRestore();
    copy.mockRestore();

    expect(allocSizes).toEqual([size]);
    // Every byte is copied once: the 16 header bytes are read in place, the payload copied into its buffer.
    expect(copied).toBeLessThanOrEqual(bytes.length);
    expect(copied).toBeGreaterThanOrEqual(size);
    const frames = r.frames();
    expect(frames).toHaveLength(1);
    expect(frames[0]?.id).toBe(7);
    expect(frames[0]?.payload.equals(payload)).toBe(true);
  });

  it('hands a payload that lies inside one chunk on as a zero-copy view of that chunk', () => {
    const input = Buffer.concat([frame(FrameType.REQUEST, 1, 'first payload'), frame(FrameType.RESPONSE, 1, 'second')]);
    const r = recorder();
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    r.decoder.push(input);
    expect(alloc).not.toHaveBeenCalled();
    const raws = r.events.flatMap((e) => (e.kind === 'frame' ? [e.raw] : []));
    expect(raws).toHaveLength(2);
    expect(raws[0]?.buffer).toBe(input.buffer);
    expect(raws[0]?.byteOffset).toBe(input.byteOffset + HEADER_SIZE);
    expect(raws[0]?.toString()).toBe('first payload');
    expect(raws[1]?.buffer).toBe(input.buffer);
    expect(raws[1]?.byteOffset).toBe(input.byteOffset + 2 * HEADER_SIZE + 'first payload'.length);
  });

  it('copies a payload that spans chunks into a buffer of its own', () => {
    const bytes = frame(FrameType.REQUEST, 1, 'a payload over two chunks');
    // Buffer.alloc never hands out views of the shared pool, so the chunks own their memory.
    const first = Buffer.alloc(20);
    const second = Buffer.alloc(bytes.length - 20);
    bytes.copy(first, 0, 0, 20);
    bytes.copy(second, 0, 20);
    const r = recorder();
    r.decoder.push(first);
    r.decoder.push(second);
    const raw = r.events[0]?.kind === 'frame' ? r.events[0].raw : undefined;
    expect(raw?.toString()).toBe('a payload over two chunks');
    expect(raw?.buffer).not.toBe(first.buffer);
    expect(raw?.buffer).not.toBe(second.buffer);
    // The reader may reuse its chunks: the payload it was handed does not change.
    first.fill(0);
    second.fill(0);
    expect(raw?.toString()).toBe('a payload over two chunks');
  });
});

describe('FrameDecoder: size limit', () => {
  it('fails with FrameTooLargeError after only the 16 header bytes of an oversize frame', () => {
    const r = recorder({ maxFrameSize: 1024 });
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const head = frame(FrameType.REQUEST, 1, Buffer.alloc(1025)).subarray(0, HEADER_SIZE);
    r.decoder.push(head);
    expect(alloc).not.toHaveBeenCalled();
    const error = onlyError(r.errors());
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(error.code).toBe('WARREN_FRAME_TOO_LARGE');
    expect(error.message).toBe('frame payload of 1025 bytes is over the limit of 1024 bytes');
    expect(error.data).toEqual({ size: 1025, limit: 1024 });
    expect((error as FrameTooLargeError).size).toBe(1025);
    expect((error as FrameTooLargeError).limit).toBe(1024);
    // The connection is done: nothing after it is read, and end() adds nothing.
    r.decoder.push(frame(FrameType.CANCEL, 2));
    r.decoder.end();
    expect(r.frames()).toEqual([]);
    expect(r.errors()).toHaveLength(1);
  });

  it('checks the limit from a header split across chunks too, and in lenient mode', () => {
    for (const lenient of [false, true]) {
      const r = recorder({ maxFrameSize: 10, lenient });
      const head = frame(FrameType.NOTIFY, 0, Buffer.alloc(11)).subarray(0, HEADER_SIZE);
      r.decoder.push(head.subarray(0, 9));
      expect(r.errors()).toEqual([]);
      r.decoder.push(head.subarray(9));
      expect(onlyError(r.errors()).code).toBe('WARREN_FRAME_TOO_LARGE');
      expect(r.junk().length).toBe(0);
    }
  });

  it('refuses a 4 GiB announcement under the default 16 MiB limit without allocating it', () => {
    const r = recorder();
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    r.decoder.push(rawHeader([0x57, 0xae, 1, 2, 2, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]));
    expect(alloc).not.toHaveBeenCalled();
    const error = onlyError(r.errors());
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(error.data).toEqual({ size: 0xffffffff, limit: 16 * 1024 * 1024 });
  });

  it('accepts a payload of exactly the limit', () => {
    const r = recorder({ maxFrameSize: 100 });
    r.decoder.push(frame(FrameType.RESPONSE, 1, Buffer.alloc(100, 1)));
    expect(r.errors()).toEqual([]);
    expect(r.frames()[0]?.payload.length).toBe(100);
  });
});

describe('FrameDecoder: truncated streams', () => {
  it('reports a stream that ends inside a payload, with the byte counts', () => {
    const r = recorder();
    const bytes = frame(FrameType.RESPONSE, 3, Buffer.alloc(100, 7));
    r.decoder.push(bytes.subarray(0, HEADER_SIZE + 10));
    expect(r.errors()).toEqual([]);
    r.decoder.end();
    const error = onlyError(r.errors());
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('WARREN_PROTOCOL');
    expect(error.message).toBe('stream ended inside a frame: 10 of 100 payload bytes received');
    expect(r.frames()).toEqual([]);
    r.decoder.end();
    expect(r.errors()).toHaveLength(1);
  });

  it('reports a stream that ends inside a header, with the byte counts', () => {
    const r = recorder();
    r.decoder.push(frame(FrameType.CANCEL, 3).subarray(0, 7));
    r.decoder.end();
    const error = onlyError(r.errors());
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('WARREN_PROTOCOL');
    expect(error.message).toBe('stream ended inside a frame header: 7 of 16 bytes received');
  });

  it('reports nothing when the stream ends between frames', () => {
    const r = recorder();
    r.decoder.push(frame(FrameType.CANCEL, 3));
    r.decoder.end();
    expect(r.errors()).toEqual([]);
    expect(r.frames()).toHaveLength(1);
  });

  it('reports a stream that ends inside a payload in lenient mode too', () => {
    const r = recorder({ lenient: true });
    r.decoder.push(frame(FrameType.RESPONSE, 3, 'abcdef').subarray(0, HEADER_SIZE + 2));
    r.decoder.end();
    expect(onlyError(r.errors()).message).toBe('stream ended inside a frame: 2 of 6 payload bytes received');
    expect(r.junk().length).toBe(0);
  });
});

describe('FrameDecoder: strict mode rejects what is not a frame', () => {
  it('fails on bad magic, reports the header bytes, and ignores all further input', () => {
    const r = recorder();
    const text = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    r.decoder.push(text);
    const error = onlyError(r.errors());
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('WARREN_PROTOCOL');
    expect(error.message).toBe('invalid frame header: bad magic');
    expect(error.data).toEqual({ header: text.subarray(0, 16).toString('hex') });
    r.decoder.push(frame(FrameType.REQUEST, 1, '\x04echo'));
    r.decoder.end();
    expect(r.frames()).toEqual([]);
    expect(r.errors()).toHaveLength(1);
    expect(r.junk().length).toBe(0);
  });

  it('fails on bad magic in a header gathered from small chunks', () => {
    const r = recorder();
    const text = Buffer.from('hello world, this is text');
    feedInChunks(r.decoder, text, 3);
    const error = onlyError(r.errors());
    expect(error.code).toBe('WARREN_PROTOCOL');
    expect(error.message).toBe('invalid frame header: bad magic');
    expect(error.data).toEqual({ header: text.subarray(0, 16).toString('hex') });
  });

  it('fails on bad magic after valid frames and keeps the frames before it', () => {
    const r = recorder();
    r.decoder.push(
      Buffer.concat([
        frame(FrameType.CANCEL, 1),
        frame(FrameType.CANCEL, 2),
        Buffer.from('this is not a frame'),
        frame(FrameType.CANCEL, 3),
      ]),
    );
    expect(r.frames().map((f) => f.id)).toEqual([1, 2]);
    expect(onlyError(r.errors()).message).toBe('invalid frame header: bad magic');
  });

  it('fails on a header check mismatch', () => {
    for (const split of [0, 8]) {
      const r = recorder();
      const bytes = frame(FrameType.REQUEST, 5, '\x04echo');
      bytes[8] = 0x99; // part of the request id
      if (split === 0) r.decoder.push(bytes);
      else {
        r.decoder.push(bytes.subarray(0, split));
        r.decoder.push(bytes.subarray(split));
      }
      const error = onlyError(r.errors());
      expect(error).toBeInstanceOf(ProtocolError);
      expect(error.code).toBe('WARREN_PROTOCOL');
      expect(error.message).toBe('invalid frame header: header check (CRC-16) mismatch');
      r.decoder.push(frame(FrameType.CANCEL, 1));
      expect(r.frames()).toEqual([]);
    }
  });
});

describe('FrameDecoder: headers with a valid check but unknown fields fail in both modes', () => {
  const cases: [string, number[], string][] = [
    ['frame type 10', [0x57, 0xae, 1, 10, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0], 'invalid frame header: unknown frame type 10'],
    ['frame type 0', [0x57, 0xae, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0], 'invalid frame header: unknown frame type 0'],
    ['version 2', [0x57, 0xae, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0], 'invalid frame header: unsupported version 2'],
    ['flags 0x04', [0x57, 0xae, 1, 2, 1, 4, 0, 0, 0, 1, 0, 0, 0, 0], 'invalid frame header: unknown flags 0x4'],
  ];
  for (const [name, bytes, message] of cases) {
    for (const lenient of [false, true]) {
      it(`${name}, ${lenient ? 'lenient' : 'strict'}`, () => {
        const header = rawHeader(bytes);
        for (const split of [16, 3]) {
          const r = recorder({ lenient });
          const input = Buffer.concat([frame(FrameType.CANCEL, 9), header, frame(FrameType.CANCEL, 10)]);
          r.decoder.push(input.subarray(0, HEADER_SIZE + split));
          r.decoder.push(input.subarray(HEADER_SIZE + split));
          r.decoder.end();
          const error = onlyError(r.errors());
          expect(error).toBeInstanceOf(ProtocolError);
          expect(error.code).toBe('WARREN_PROTOCOL');
          expect(error.message).toBe(message);
          expect(error.data).toEqual({ header: header.toString('hex') });
          expect(r.frames().map((f) => f.id)).toEqual([9]);
          expect(r.junk().length).toBe(0);
        }
      });
    }
  }
});

describe('FrameDecoder: lenient mode skips and reports junk', () => {
  const A = frame(FrameType.REQUEST, 1, '\x04echo"hi"');
  const B = frame(FrameType.RESPONSE, 1, '"hi"');
  const fa = { type: FrameType.REQUEST, codec: 1, flags: 0, id: 1, payload: Buffer.from('\x04echo"hi"') };
  const fb = { type: FrameType.RESPONSE, codec: 1, flags: 0, id: 1, payload: Buffer.from('"hi"') };

  it('reports text before a frame as one junk event with exactly those bytes, then the frame', () => {
    const r = recorder({ lenient: true });
    r.decoder.push(Buffer.concat([Buffer.from('hello world\n'), A]));
    expect(r.events.map((e) => e.kind)).toEqual(['junk', 'frame']);
    expect(r.events[0]?.kind === 'junk' && r.events[0].bytes.toString('latin1')).toBe('hello world\n');
    expect(r.frames()).toEqual([fa]);
    expect(r.errors()).toEqual([]);
  });

  it('reports junk between frames in its place', () => {
    const r = recorder({ lenient: true });
    r.decoder.push(Buffer.concat([A, Buffer.from('log: started\n'), B, Buffer.from('tail')]));
    r.decoder.end();
    expect(r.merged()).toEqual([fa, { junk: 'log: started\n' }, fb, { junk: 'tail' }]);
  });

  it('reports junk split across chunks', () => {
    const r = recorder({ lenient: true });
    r.decoder.push(Buffer.from('hel'));
    r.decoder.push(Buffer.from('lo '));
    r.decoder.push(Buffer.concat([Buffer.from('there\n'), A.subarray(0, 5)]));
    r.decoder.push(A.subarray(5));
    expect(r.merged()).toEqual([{ junk: 'hello there\n' }, fa]);
  });

  it('handles a lone 0x57 at the end of a chunk followed by more junk', () => {
    const r = recorder({ lenient: true });
    r.decoder.push(Buffer.from('abcW'));
    r.decoder.push(Buffer.from('xyz, and a line long enough to fill a header\n'));
    r.decoder.push(A);
    r.decoder.push(Buffer.from('W'));
    r.decoder.push(Buffer.from('!'));
    r.decoder.end();
    expect(r.merged()).toEqual([{ junk: 'abcWxyz, and a line long enough to fill a header\n' }, fa, { junk: 'W!' }]);
    expect(r.errors()).toEqual([]);
  });

  it('handles a lone 0x57 at the end of a chunk followed by a frame', () => {
    const r = recorder({ lenient: true });
    r.decoder.push(Buffer.from('W'));
    r.decoder.push(A);
    expect(r.merged()).toEqual([{ junk: 'W' }, fa]);
  });

  it("skips a stray 'W\\xAE' that does not start a valid header, then reads the real frame", () => {
    const stray = Buffer.from([0x57, 0xae]);
    for (const input of [
      Buffer.concat([stray, A]),
      Buffer.concat([stray, Buffer.from(' then text long enough for a header\n'), A]),
      Buffer.concat([Buffer.from('x'), stray, stray, A, stray]),
    ]) {
      const expected = (input.length - A.length) as number;
      const r = recorder({ lenient: true });
      r.decoder.push(input);
      r.decoder.end();
      expect(r.frames()).toEqual([fa]);
      expect(r.junk().length).toBe(expected);
      expect(r.errors()).toEqual([]);
    }
  });

  it('gives the same junk and frames whatever byte position the input is split at', () => {
    const input = Buffer.concat([
      Buffer.from('boot\n'),
      A,
      Buffer.from([0x57, 0xae, 0x01]),
      Buffer.from('W'),
      B,
      Buffer.from('W\xae printed text\n', 'latin1'),
      MIXED_BYTES,
      Buffer.from('bye'),
    ]);
    const expected = [{ junk: 'boot\n' }, fa, { junk: '\x57\xae\x01W' }, fb, { junk: 'W\xae printed text\n' }, ...MIXED, { junk: 'bye' }];
    for (let cut = 0; cut <= input.length; cut++) {
      const r = recorder({ lenient: true });
      r.decoder.push(input.subarray(0, cut));
      r.decoder.push(input.subarray(cut));
      r.decoder.end();
      expect(r.merged(), `cut at ${cut}`).toEqual(expected);
    }
    const r = recorder({ lenient: true });
    feedInChunks(r.decoder, input, 1);
    r.decoder.end();
    expect(r.merged()).toEqual(expected);
  });

  it('reports a partial header left at the end of the stream as junk, not an error', () => {
    for (const tail of [Buffer.from('W'), Buffer.from([0x57, 0xae, 0x01]), A.subarray(0, 15)]) {
      const r = recorder({ lenient: true });
      r.decoder.push(Buffer.concat([Buffer.from('abc'), tail]));
      r.decoder.end();
      expect(r.errors()).toEqual([]);
      expect(r.junk().toString('latin1')).toBe(`abc${tail.toString('latin1')}`);
      expect(r.decoder.idle).toBe(true);
    }
  });

  it('never reports junk in strict mode', () => {
    const r = recorder();
    r.decoder.push(Buffer.from('hello world\n'));
    expect(r.errors()).toEqual([]);
    r.decoder.push(Buffer.from('and more text\n'));
    expect(r.junk().length).toBe(0);
    expect(r.errors().map((e) => isWarrenError(e) && e.code)).toEqual(['WARREN_PROTOCOL']);
  });
});
