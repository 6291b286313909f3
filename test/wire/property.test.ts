/**
 * Property tests of the wire layer: whatever bytes arrive, however they are chunked, the
 * decoder reports frames, junk (lenient mode) or one WarrenError, and never throws, never
 * allocates more than its frame limit, and never depends on where the chunks were cut.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { isWarrenError, WarrenError } from '../../src/errors.js';
import { BinaryFraming } from '../../src/wire/binary.js';
import { CodecId } from '../../src/wire/codecs.js';
import { FrameDecoder } from '../../src/wire/decoder.js';
import type { WireError } from '../../src/wire/framing.js';
import { crc16, FrameType, HEADER_SIZE, writeHeader } from '../../src/wire/header.js';
import { type Call, recordingSink } from '../support/recording-sink.js';

const MAX = 4096;
const RUNS = 300;

// ---- arbitraries ------------------------------------------------------------------------

/** A frame with a valid header: any type 1-9, any codec byte, any id, a payload up to 300 bytes. */
const validFrame = fc
  .record({
    type: fc.integer({ min: 1, max: 9 }),
    codec: fc.integer({ min: 0, max: 255 }),
    flags: fc.constantFrom(0, 1),
    id: fc.integer({ min: 0, max: 0xffffffff }),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map(({ type, codec, flags, id, payload }) => {
    const buf = Buffer.alloc(HEADER_SIZE + payload.length);
    writeHeader(buf, 0, type, codec, flags, id, payload.length);
    buf.set(payload, HEADER_SIZE);
    return buf;
  });

/** A header with a valid check but any field values: unknown versions, types and flags, huge lengths. */
const checkedHeader = fc
  .tuple(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 12 }),
    fc.integer({ min: 0, max: 255 }),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.oneof(fc.integer({ min: 0, max: 2 * MAX }), fc.integer({ min: 0, max: 0xffffffff })),
  )
  .map(([version, type, codec, flags, id, length]) => {
    const buf = Buffer.alloc(HEADER_SIZE);
    buf[0] = 0x57;
    buf[1] = 0xae;
    buf[2] = version;
    buf[3] = type;
    buf[4] = codec;
    buf[5] = flags;
    buf.writeUInt32BE(id, 6);
    buf.writeUInt32BE(length, 10);
    buf.writeUInt16BE(crc16(buf, 0, 14), 14);
    return buf;
  });

/** Pieces that make interesting streams: noise, magic bytes, whole and cut frames, odd headers. */
const piece = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.from([0x57, 0xae])),
  fc.constant(Buffer.from([0x57])),
  fc.constant(Buffer.from('log line\n')),
  validFrame,
  validFrame.chain((f) => fc.nat({ max: f.length }).map((n) => f.subarray(0, n))),
  checkedHeader,
);

const stream = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
  fc.array(piece, { maxLength: 12 }).map((parts) => Buffer.concat(parts)),
);

/** Where to cut a stream into chunks (positions are reduced modulo its length). */
const cuts = fc.array(fc.nat(), { maxLength: 12 });

function chunked(bytes: Buffer, positions: number[]): Buffer[] {
  if (bytes.length === 0) return [bytes];
  const points = [...new Set(positions.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    // Fresh buffers, as a socket would hand them over (and so that views of earlier chunks cannot be confused).
    chunks.push(Buffer.from(bytes.subarray(from, p)));
    from = p;
  }
  return chunks;
}

// ---- running the decoder ----------------------------------------------------------------

type Event = ['frame', number, number, number, number, string] | ['junk', string] | ['error', string, string];

interface Outcome {
  events: Event[];
  errors: unknown[];
  frameBytes: number;
  junkBytes: number;
  /** Sizes passed to Buffer.allocUnsafe while decoding. */
  allocations: number[];
}

function decode(chunks: Buffer[], lenient: boolean): Outcome {
  const events: Event[] = [];
  const errors: unknown[] = [];
  let frameBytes = 0;
  let junkBytes = 0;
  alloc.mockClear();
  const decoder = new FrameDecoder({
    maxFrameSize: MAX,
    lenient,
    onFrame: (type, codec, flags, id, payload) => {
      expect(payload.length).toBeLessThanOrEqual(MAX);
      frameBytes += HEADER_SIZE + payload.length;
      events.push(['frame', type, codec, flags, id, payload.toString('hex')]);
    },
    onError: (error) => {
      errors.push(error);
      events.push(['error', (error as { code?: string }).code ?? '?', error.message]);
    },
    onJunk: (bytes) => {
      junkBytes += bytes.length;
      const last = events[events.length - 1];
      // Junk may come in several pieces; merge neighbours so that chunkings compare equal.
      if (last?.[0] === 'junk') last[1] += bytes.toString('hex');
      else events.push(['junk', bytes.toString('hex')]);
    },
  });
  for (const chunk of chunks) decoder.push(chunk);
  decoder.end();
  return { events, errors, frameBytes, junkBytes, allocations: alloc.mock.calls.map((c) => c[0]) };
}

let alloc: MockInstance<typeof Buffer.allocUnsafe>;
beforeEach(() => {
  alloc = vi.spyOn(Buffer, 'allocUnsafe');
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** What must hold for any input: only WarrenErrors, at most one and last, nothing over the limit, every byte accounted for. */
function checkOutcome(out: Outcome, input: Buffer, lenient: boolean): void {
  expect(out.errors.length).toBeLessThanOrEqual(1);
  for (const error of out.errors) {
    expect(error).toBeInstanceOf(WarrenError);
    expect(isWarrenError(error)).toBe(true);
    expect(['WARREN_PROTOCOL', 'WARREN_FRAME_TOO_LARGE']).toContain((error as WarrenError).code);
  }
  if (out.errors.length === 1) expect(out.events[out.events.length - 1]?.[0]).toBe('error');
  if (!lenient) expect(out.junkBytes).toBe(0);
  // Without an error every input byte is either part of a frame or reported as junk.
  if (out.errors.length === 0) expect(out.frameBytes + out.junkBytes).toBe(input.length);
  else expect(out.frameBytes + out.junkBytes).toBeLessThanOrEqual(input.length);
  for (const size of out.allocations) expect(size).toBeLessThanOrEqual(MAX);
}

describe('FrameDecoder on arbitrary bytes', () => {
  for (const lenient of [false, true]) {
    it(`${lenient ? 'lenient' : 'strict'}: reports only WarrenErrors, buffers nothing over the limit, and does not depend on chunking`, () => {
      fc.assert(
        fc.property(stream, cuts, (bytes, positions) => {
          const whole = decode([bytes], lenient);
          checkOutcome(whole, bytes, lenient);
          const parts = decode(chunked(bytes, positions), lenient);
          checkOutcome(parts, bytes, lenient);
          expect(parts.events).toEqual(whole.events);
          const bytewise = decode(
            chunked(
              bytes,
              Array.from({ length: bytes.length }, (_, i) => i),
            ),
            lenient,
          );
          expect(bytewise.events).toEqual(whole.events);
        }),
        { numRuns: RUNS },
      );
    });
  }
});

// ---- valid messages ---------------------------------------------------------------------

/** JSON data without "__proto__" keys (MessagePack renames those on purpose) and without -0 (JSON has none). */
const key = fc.string({ unit: 'grapheme', maxLength: 8 }).filter((k) => k !== '__proto__');
const { data } = fc.letrec((tie) => ({
  data: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.array(tie('data'), { maxLength: 4 }),
    fc.dictionary(key, tie('data'), { maxKeys: 4 }),
  ),
}));

const method = fc.string({ unit: 'grapheme', maxLength: 30 }).filter((m) => Buffer.byteLength(m) <= 255);
const codec = fc.constantFrom(CodecId.json, CodecId.msgpack);
const id = fc.integer({ min: 1, max: 0xffffffff });
const maybe = fc.option(data, { nil: undefined });

type Message =
  | { type: 'REQUEST'; id: number; method: string; params: unknown; codec: number }
  | { type: 'NOTIFY'; method: string; params: unknown; codec: number }
  | { type: 'RESPONSE'; id: number; result: unknown; stream: boolean; codec: number }
  | { type: 'ERROR'; id: number; error: WireError; codec: number }
  | { type: 'CANCEL'; id: number }
  | { type: 'PROGRESS' | 'STREAM_ITEM'; id: number; value: unknown; codec: number }
  | { type: 'STREAM_END'; id: number }
  | { type: 'CREDIT'; id: number; credit: number };

const wireError = fc
  .record({ code: fc.string({ minLength: 1, maxLength: 20 }), message: fc.string({ maxLength: 40 }), data: maybe })
  .map((e): WireError => (e.data === undefined ? { code: e.code, message: e.message } : e));

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('REQUEST' as const), id, method, params: maybe, codec }),
  fc.record({ type: fc.constant('NOTIFY' as const), method, params: maybe, codec }),
  fc.record({ type: fc.constant('RESPONSE' as const), id, result: maybe, stream: fc.boolean(), codec }),
  fc.record({ type: fc.constant('ERROR' as const), id, error: wireError, codec }),
  fc.record({ type: fc.constant('CANCEL' as const), id }),
  fc.record({ type: fc.constantFrom('PROGRESS' as const, 'STREAM_ITEM' as const), id, value: maybe, codec }),
  fc.record({ type: fc.constant('STREAM_END' as const), id }),
  fc.record({ type: fc.constant('CREDIT' as const), id, credit: fc.integer({ min: 0, max: 0xffffffff }) }),
);

function write(framing: BinaryFraming, m: Message): void {
  switch (m.type) {
    case 'REQUEST':
      framing.writeRequest(m.id, m.method, m.params, m.codec);
      return;
    case 'NOTIFY':
      framing.writeNotify(m.method, m.params, m.codec);
      return;
    case 'RESPONSE':
      framing.writeResponse(m.id, m.result, m.stream, m.codec);
      return;
    case 'ERROR':
      framing.writeError(m.id, m.error, m.codec);
      return;
    case 'CANCEL':
      framing.writeCancel(m.id);
      return;
    case 'PROGRESS':
      framing.writeProgress(m.id, m.value, m.codec);
      return;
    case 'STREAM_ITEM':
      framing.writeStreamItem(m.id, m.value, m.codec);
      return;
    case 'STREAM_END':
      framing.writeStreamEnd(m.id);
      return;
    case 'CREDIT':
      framing.writeCredit(m.id, m.credit);
      return;
  }
}

/** JSON's view of a value, which both codecs must reproduce for this data. */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function expected(m: Message): Call {
  switch (m.type) {
    case 'REQUEST':
      return ['request', m.id, m.method, plain(m.params), m.codec];
    case 'NOTIFY':
      return ['notify', m.method, plain(m.params)];
    case 'RESPONSE':
      return ['response', m.id, plain(m.result), m.stream];
    case 'ERROR':
      return ['error', m.id, plain(m.error)];
    case 'CANCEL':
      return ['cancel', m.id];
    case 'PROGRESS':
      return ['progress', m.id, plain(m.value)];
    case 'STREAM_ITEM':
      return ['streamItem', m.id, plain(m.value)];
    case 'STREAM_END':
      return ['streamEnd', m.id];
    case 'CREDIT':
      return ['credit', m.id, m.credit];
  }
}

/** Encodes messages with one framing (so they share slabs, as on a live connection). */
function encodeAll(messages: Message[]): Buffer {
  const pushed: Uint8Array[] = [];
  const framing = new BinaryFraming({ sink: recordingSink([]), out: { push: (b, s, e) => pushed.push(b.subarray(s, e)) } });
  for (const m of messages) write(framing, m);
  return Buffer.concat(pushed);
}

function decodeFraming(chunks: Buffer[], lenient = false): Call[] {
  const calls: Call[] = [];
  const framing = new BinaryFraming({ sink: recordingSink(calls), out: { push: () => {} }, lenient, maxFrameSize: MAX * 16 });
  for (const chunk of chunks) framing.feed(chunk);
  framing.end();
  return calls;
}

describe('valid frame sequences', () => {
  it('decode to the messages that were encoded, however the bytes are chunked', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 12 }), cuts, fc.boolean(), (messages, positions, lenient) => {
        const bytes = encodeAll(messages);
        expect(decodeFraming(chunked(bytes, positions), lenient)).toEqual(messages.map(expected));
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- mutated encodings ------------------------------------------------------------------

const mutation = fc.record({
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
  cutTo: fc.option(fc.nat(), { nil: undefined }),
  insert: fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 20 })), { nil: undefined }),
});

function mutate(
  bytes: Buffer,
  m: { flips: [number, number][]; cutTo: number | undefined; insert: [number, Uint8Array] | undefined },
): Buffer {
  let out = Buffer.from(bytes);
  if (out.length > 0) for (const [at, value] of m.flips) out[at % out.length] = value;
  if (m.insert !== undefined) {
    const at = m.insert[0] % (out.length + 1);
    out = Buffer.concat([out.subarray(0, at), m.insert[1], out.subarray(at)]);
  }
  if (m.cutTo !== undefined) out = out.subarray(0, m.cutTo % (out.length + 1));
  return out;
}

describe('valid encodings with random mutations', () => {
  for (const lenient of [false, true]) {
    it(`FrameDecoder (${lenient ? 'lenient' : 'strict'}) yields frames, junk or one WarrenError, never a throw`, () => {
      fc.assert(
        fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), mutation, cuts, (messages, m, positions) => {
          const bytes = mutate(encodeAll(messages), m);
          const whole = decode([bytes], lenient);
          checkOutcome(whole, bytes, lenient);
          const parts = decode(chunked(bytes, positions), lenient);
          checkOutcome(parts, bytes, lenient);
          expect(parts.events).toEqual(whole.events);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('BinaryFraming reports through its sink only, with WarrenErrors for bad requests and fatal errors', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), mutation, cuts, fc.boolean(), (messages, m, positions, lenient) => {
        const bytes = mutate(encodeAll(messages), m);
        const calls = decodeFraming(chunked(bytes, positions), lenient);
        checkCalls(calls);
        expect(summary(decodeFraming([bytes], lenient))).toEqual(summary(calls));
      }),
      { numRuns: RUNS },
    );
  });
});

/** Every sink call has the right shape; fatal errors come at most once and last. */
function checkCalls(calls: Call[]): void {
  const fatal = calls.filter((c) => c[0] === 'fatal');
  expect(fatal.length).toBeLessThanOrEqual(1);
  if (fatal.length === 1) expect(calls[calls.length - 1]?.[0]).toBe('fatal');
  for (const call of calls) {
    if (call[0] === 'fatal' || call[0] === 'badRequest') {
      const error = call[call.length - 1];
      expect(error).toBeInstanceOf(WarrenError);
      if (call[0] === 'badRequest') expect((error as WarrenError).code).toBe('WARREN_CODEC');
    }
    if (call[0] === 'error') {
      const error = call[2] as WireError;
      expect(typeof error.code).toBe('string');
      expect(error.code.length).toBeGreaterThan(0);
      expect(typeof error.message).toBe('string');
    }
  }
}

/** Calls reduced to what does not depend on object identity or chunking: errors by class, code and message, neighbouring junk merged. */
function summary(calls: Call[]): unknown[] {
  const out: unknown[][] = [];
  for (const call of calls) {
    const last = out[out.length - 1];
    if (call[0] === 'junk' && last?.[0] === 'junk') {
      last[1] = `${last[1] as string}${Buffer.from(call[1] as Uint8Array).toString('hex')}`;
      continue;
    }
    out.push(
      call.map((x) =>
        x instanceof Error ? [x.name, (x as WarrenError).code, x.message] : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x,
      ),
    );
  }
  return out;
}

describe('codec garbage inside valid frames', () => {
  const KIND: Record<number, string[]> = {
    [FrameType.REQUEST]: ['request', 'badRequest'],
    [FrameType.RESPONSE]: ['response', 'error'],
    [FrameType.ERROR]: ['error'],
    [FrameType.NOTIFY]: ['notify', 'badRequest'],
    [FrameType.CANCEL]: ['cancel'],
    [FrameType.PROGRESS]: ['progress', 'error'],
    [FrameType.STREAM_ITEM]: ['streamItem', 'error'],
    [FrameType.STREAM_END]: ['streamEnd'],
    [FrameType.CREDIT]: ['credit', 'badCredit'],
  };

  const garbageFrame = fc.record({
    type: fc.integer({ min: 1, max: 9 }),
    codec: fc.oneof(fc.constantFrom(0, 1, 2, 3), fc.integer({ min: 4, max: 255 })),
    flags: fc.constantFrom(0, 1),
    id: fc.integer({ min: 1, max: 0xffffffff }),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Payloads that start like real ones: a method prefix, JSON or MessagePack openers.
      fc
        .tuple(fc.constantFrom('\x04echo', '{"a":', '\xde\x00\x05', '\x93\x01', '\xff\x0d', '"'), fc.uint8Array({ maxLength: 40 }))
        .map(([head, tail]) => Buffer.concat([Buffer.from(head, 'latin1'), tail])),
    ),
  });

  it('each frame gives exactly one sink call of its kind: a value, onBadRequest, onBadCredit or onError, never a throw or a fatal', () => {
    fc.assert(
      fc.property(fc.array(garbageFrame, { minLength: 1, maxLength: 10 }), cuts, (frames, positions) => {
        const bytes = Buffer.concat(
          frames.map((f) => {
            const buf = Buffer.alloc(HEADER_SIZE + f.payload.length);
            writeHeader(buf, 0, f.type, f.codec, f.flags, f.id, f.payload.length);
            buf.set(f.payload, HEADER_SIZE);
            return buf;
          }),
        );
        const calls = decodeFraming(chunked(bytes, positions));
        checkCalls(calls);
        expect(calls).toHaveLength(frames.length);
        frames.forEach((f, i) => {
          const call = calls[i] as Call;
          expect(KIND[f.type]).toContain(call[0]);
          if (f.type === FrameType.NOTIFY) {
            if (call[0] === 'badRequest') expect(call[1]).toBe(0);
          } else {
            expect(call[1]).toBe(f.id);
          }
        });
      }),
      { numRuns: RUNS },
    );
  });
});
