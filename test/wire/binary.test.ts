import { describe, expect, it } from 'vitest';
import { CodecError, FrameTooLargeError, isWarrenError, ProtocolError, type WarrenError } from '../../src/errors.js';
import { BinaryFraming } from '../../src/wire/binary.js';
import { CodecId } from '../../src/wire/codecs.js';
import type { FramingOptions, WireError } from '../../src/wire/framing.js';
import { FLAG_STREAM, FrameType, HEADER_SIZE, parseHeader, writeHeader } from '../../src/wire/header.js';
import { type Call, recordingSink } from '../support/recording-sink.js';

/** A framing whose pushed buffers are kept as they are (not copied), and whose sink records calls. */
function harness(options: Partial<Omit<FramingOptions, 'sink' | 'out'>> = {}) {
  const calls: Call[] = [];
  const pushed: Uint8Array[] = [];
  const framing = new BinaryFraming({ ...options, sink: recordingSink(calls), out: { push: (b, s, e) => pushed.push(b.subarray(s, e)) } });
  const bytes = () => Buffer.concat(pushed);
  return { calls, pushed, framing, bytes };
}

/** Decodes bytes with a fresh framing and returns the sink calls. */
function decodeAll(bytes: Uint8Array, options: Partial<Omit<FramingOptions, 'sink' | 'out'>> = {}): Call[] {
  const h = harness(options);
  h.framing.feed(Buffer.from(bytes));
  h.framing.end();
  return h.calls;
}

/** A frame built by hand, so that its payload can be anything. */
function frame(type: number, codec: number, id: number, payload: Buffer | string, flags = 0): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const buf = Buffer.alloc(HEADER_SIZE + body.length);
  writeHeader(buf, 0, type, codec, flags, id, body.length);
  body.copy(buf, HEADER_SIZE);
  return buf;
}

/** A REQUEST or NOTIFY payload: method length, method, params bytes. */
function call(method: string, params: Buffer | string): Buffer {
  const m = Buffer.from(method, 'utf8');
  return Buffer.concat([Buffer.from([m.length]), m, typeof params === 'string' ? Buffer.from(params, 'latin1') : params]);
}

function thrown(fn: () => unknown): WarrenError {
  try {
    fn();
  } catch (error) {
    if (isWarrenError(error)) return error;
    throw new Error(`expected a WarrenError, got ${String(error)}`);
  }
  throw new Error('expected a throw');
}

/** Bytes as a comparable value (raw payloads arrive as Buffers). */
function normalise(value: unknown): unknown {
  return value instanceof Uint8Array ? `hex:${Buffer.from(value).toString('hex')}` : value;
}

const VALUES: Record<string, { params: unknown; result: unknown; item: unknown }> = {
  raw: { params: Buffer.from([0x57, 0xae, 0, 1, 255]), result: Buffer.from('text as bytes'), item: Buffer.from([7]) },
  json: { params: { a: [1, 'two', null], é: true }, result: 'ok', item: { n: 0.5 } },
  msgpack: { params: { big: 2n ** 60n, bytes: Buffer.from([1, 2]) }, result: [1, { x: null }], item: -3 },
  v8: { params: new Map([['k', new Set([1])]]), result: new Date(0), item: 10n ** 30n },
};

describe('BinaryFraming round trip', () => {
  for (const [name, values] of Object.entries(VALUES)) {
    const codec = CodecId[name as keyof typeof CodecId];

    it(`carries every frame type with the ${name} codec`, () => {
      const w = harness({ codec });
      const error: WireError = { code: 'E_TEST', message: 'it failed', data: { why: ['because'] } };
      w.framing.writeRequest(1, 'do.thing', values.params, codec);
      w.framing.writeRequest(0xffffffff, 'no.params', undefined, codec);
      w.framing.writeNotify('note', values.params, codec);
      w.framing.writeResponse(1, values.result, false, codec);
      w.framing.writeResponse(0xffffffff, undefined, false, codec);
      w.framing.writeResponse(2, undefined, true, codec);
      w.framing.writeStreamItem(2, values.item, codec);
      w.framing.writeCredit(2, 0xffffffff);
      w.framing.writeStreamEnd(2);
      w.framing.writeError(3, error, codec);
      w.framing.writeError(4, { code: 'E_STACK', message: 'with stack', stack: 'Error: x\n    at y' }, codec);
      w.framing.writeCancel(5);
      w.framing.writeProgress(6, values.item, codec);

      // The header of each frame: type, codec byte (errors never go raw but JSON, credit always does), flags.
      const errorCodec = codec === 0 ? CodecId.json : codec;
      expect(w.pushed.map((b) => [parseHeader(b).type, parseHeader(b).codec, parseHeader(b).flags])).toEqual([
        [FrameType.REQUEST, codec, 0],
        [FrameType.REQUEST, codec, 0],
        [FrameType.NOTIFY, codec, 0],
        [FrameType.RESPONSE, codec, 0],
        [FrameType.RESPONSE, codec, 0],
        [FrameType.RESPONSE, codec, FLAG_STREAM],
        [FrameType.STREAM_ITEM, codec, 0],
        [FrameType.CREDIT, CodecId.raw, 0],
        [FrameType.STREAM_END, codec, 0],
        [FrameType.ERROR, errorCodec, 0],
        [FrameType.ERROR, errorCodec, 0],
        [FrameType.CANCEL, codec, 0],
        [FrameType.PROGRESS, codec, 0],
      ]);
      // Empty payloads for undefined values, cancels and stream ends.
      expect(w.pushed.map((b) => parseHeader(b).length === 0)).toEqual([
        false,
        false,
        false,
        false,
        true,
        true,
        false,
        false,
        true,
        false,
        false,
        true,
        false,
      ]);

      const calls = decodeAll(w.bytes()).map((c) => c.map(normalise));
      const n = normalise;
      expect(calls).toEqual([
        ['request', 1, 'do.thing', n(values.params), codec],
        ['request', 0xffffffff, 'no.params', undefined, codec],
        ['notify', 'note', n(values.params)],
        ['response', 1, n(values.result), false],
        ['response', 0xffffffff, undefined, false],
        ['response', 2, undefined, true],
        ['streamItem', 2, n(values.item)],
        ['credit', 2, 0xffffffff],
        ['streamEnd', 2],
        ['error', 3, error],
        ['error', 4, { code: 'E_STACK', message: 'with stack', stack: 'Error: x\n    at y' }],
        ['cancel', 5],
        ['progress', 6, n(values.item)],
      ]);
    });
  }

  it('writes with the default codec unless a codec is given, msgpack when no default is set', () => {
    const w = harness({ codec: CodecId.json });
    w.framing.writeRequest(1, 'm', { a: 1 });
    w.framing.writeRequest(2, 'm', { a: 1 }, CodecId.v8);
    const d = harness();
    d.framing.writeRequest(3, 'm', { a: 1 });
    expect([...w.pushed, ...d.pushed].map((b) => parseHeader(b).codec)).toEqual([CodecId.json, CodecId.v8, CodecId.msgpack]);
    expect(
      Buffer.from(w.pushed[0] as Uint8Array)
        .subarray(HEADER_SIZE)
        .toString(),
    ).toBe('\x01m{"a":1}');
  });

  it('carries a method name of exactly 255 bytes, and an empty one', () => {
    const method = `${'é'.repeat(127)}x`; // 254 + 1 bytes
    const w = harness();
    w.framing.writeRequest(1, method, 1);
    w.framing.writeNotify('', 2);
    expect(decodeAll(w.bytes())).toEqual([
      ['request', 1, method, 1, CodecId.msgpack],
      ['notify', '', 2],
    ]);
  });
});

describe('BinaryFraming: payloads that cannot be decoded do not break the connection', () => {
  const next = frame(FrameType.REQUEST, CodecId.json, 99, call('after', '"fine"'));
  const afterCall: Call = ['request', 99, 'after', 'fine', CodecId.json];

  function decodeThenNext(bad: Buffer): Call[] {
    const calls = decodeAll(Buffer.concat([bad, next]));
    expect(calls.at(-1)).toEqual(afterCall);
    expect(calls.some((c) => c[0] === 'fatal')).toBe(false);
    expect(calls).toHaveLength(2);
    return calls.slice(0, -1);
  }

  function badRequest(calls: Call[], id: number): WarrenError {
    expect(calls).toHaveLength(1);
    const [kind, gotId, error] = calls[0] as [string, number, WarrenError];
    expect(kind).toBe('badRequest');
    expect(gotId).toBe(id);
    expect(error).toBeInstanceOf(CodecError);
    expect(error.code).toBe('WARREN_CODEC');
    return error;
  }

  it('garbage JSON params in a REQUEST → onBadRequest(id, CodecError)', () => {
    const error = badRequest(decodeThenNext(frame(FrameType.REQUEST, CodecId.json, 5, call('echo', '{"a":'))), 5);
    expect(error.message).toMatch(/^cannot decode a json payload: .+/);
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it('garbage MessagePack params in a REQUEST → onBadRequest(id, CodecError)', () => {
    const error = badRequest(decodeThenNext(frame(FrameType.REQUEST, CodecId.msgpack, 6, call('echo', Buffer.from('de0005', 'hex')))), 6);
    expect(error.message).toBe('cannot decode a msgpack payload: Unexpected end of MessagePack data');
  });

  it('garbage params in a NOTIFY → onBadRequest(0, CodecError)', () => {
    const error = badRequest(decodeThenNext(frame(FrameType.NOTIFY, CodecId.json, 0, call('log', 'not json'))), 0);
    expect(error.message).toMatch(/^cannot decode a json payload: /);
  });

  it('a REQUEST without a complete method name → onBadRequest', () => {
    for (const payload of [Buffer.alloc(0), Buffer.from('\x0aabc', 'latin1')]) {
      const error = badRequest(decodeThenNext(frame(FrameType.REQUEST, CodecId.json, 7, payload)), 7);
      expect(error.message).toBe('request frame without a complete method name');
    }
    const error = badRequest(decodeThenNext(frame(FrameType.NOTIFY, CodecId.json, 0, Buffer.alloc(0))), 0);
    expect(error.message).toBe('request frame without a complete method name');
  });

  it('params in an unknown codec → onBadRequest naming the codec id', () => {
    const error = badRequest(decodeThenNext(frame(FrameType.REQUEST, 77, 8, call('echo', 'xyz'))), 8);
    expect(error.message).toBe('unknown codec id 77');
  });

  it('a REQUEST or NOTIFY in an unknown codec is refused even without params (it could not be answered in its codec)', () => {
    const request = badRequest(decodeThenNext(frame(FrameType.REQUEST, 77, 8, call('echo', ''))), 8);
    expect(request.message).toBe('unknown codec id 77');
    const notify = badRequest(decodeThenNext(frame(FrameType.NOTIFY, 200, 0, call('log', ''))), 0);
    expect(notify.message).toBe('unknown codec id 200');
  });

  it('garbage in a RESPONSE → onError(id, WARREN_CODEC)', () => {
    const calls = decodeThenNext(frame(FrameType.RESPONSE, CodecId.msgpack, 9, Buffer.from('de0005', 'hex')));
    expect(calls).toEqual([
      ['error', 9, { code: 'WARREN_CODEC', message: 'cannot decode a msgpack payload: Unexpected end of MessagePack data' }],
    ]);
  });

  it('garbage in an ERROR, a PROGRESS or a STREAM_ITEM → onError(id, WARREN_CODEC)', () => {
    const [kind, id, error] = decodeThenNext(frame(FrameType.ERROR, CodecId.json, 10, '{oops'))[0] as [string, number, WireError];
    expect([kind, id, error.code]).toEqual(['error', 10, 'WARREN_CODEC']);
    expect(error.message).toMatch(/^undecodable error response: cannot decode a json payload: /);
    for (const type of [FrameType.PROGRESS, FrameType.STREAM_ITEM]) {
      const [k, i, e] = decodeThenNext(frame(type, CodecId.json, 11, '[1,'))[0] as [string, number, WireError];
      expect([k, i, e.code]).toEqual(['error', 11, 'WARREN_CODEC']);
      expect(e.message).toMatch(/^cannot decode a json payload: /);
    }
  });

  it('a CREDIT whose payload is not 4 bytes → onBadCredit(id, WARREN_PROTOCOL), never onError (the id is a request this side answers)', () => {
    for (const size of [0, 3, 5]) {
      const calls = decodeThenNext(frame(FrameType.CREDIT, 0, 12, Buffer.alloc(size)));
      expect(calls.length).toBe(1);
      const [kind, id, error] = calls[0] as [string, number, WarrenError];
      expect([kind, id, error.code, error.message]).toEqual([
        'badCredit',
        12,
        'WARREN_PROTOCOL',
        `credit frame with a ${size}-byte payload`,
      ]);
    }
  });

  it('reads ERROR bodies of any shape defensively', () => {
    const cases: [unknown, WireError][] = [
      ['plain text', { code: 'WARREN_REMOTE_ERROR', message: 'plain text' }],
      [42, { code: 'WARREN_REMOTE_ERROR', message: 'remote error' }],
      [null, { code: 'WARREN_REMOTE_ERROR', message: 'remote error' }],
      [{ message: 'no code' }, { code: 'WARREN_REMOTE_ERROR', message: 'no code' }],
      [
        { code: '', message: 'empty code' },
        { code: 'WARREN_REMOTE_ERROR', message: 'empty code' },
      ],
      [
        { code: 7, message: 'numeric code' },
        { code: 'WARREN_REMOTE_ERROR', message: 'numeric code' },
      ],
      [{ code: 'E_X' }, { code: 'E_X', message: 'remote error' }],
      [
        { code: 'E_X', message: 'm', stack: 12, data: [1] },
        { code: 'E_X', message: 'm', data: [1] },
      ],
      [
        { code: 'E_X', message: 'm', stack: 'at f', extra: 'dropped' },
        { code: 'E_X', message: 'm', stack: 'at f' },
      ],
    ];
    for (const [body, expected] of cases) {
      const calls = decodeThenNext(frame(FrameType.ERROR, CodecId.json, 13, JSON.stringify(body)));
      expect(calls).toEqual([['error', 13, expected]]);
    }
    // An empty ERROR payload is an undefined body.
    expect(decodeThenNext(frame(FrameType.ERROR, CodecId.json, 14, ''))).toEqual([
      ['error', 14, { code: 'WARREN_REMOTE_ERROR', message: 'remote error' }],
    ]);
  });

  it('decodes an empty payload as undefined whatever its codec, even an unknown one', () => {
    expect(decodeThenNext(frame(FrameType.RESPONSE, 250, 15, ''))).toEqual([['response', 15, undefined, false]]);
    expect(decodeThenNext(frame(FrameType.REQUEST, CodecId.json, 16, call('m', '')))).toEqual([
      ['request', 16, 'm', undefined, CodecId.json],
    ]);
  });
});

describe('BinaryFraming: broken streams reach onFatal', () => {
  it('bad magic in strict mode → onFatal(ProtocolError), nothing after it is read', () => {
    const calls = decodeAll(Buffer.concat([Buffer.from('this is plain text\n'), frame(FrameType.CANCEL, 2, 1, '')]));
    expect(calls).toHaveLength(1);
    const [kind, error] = calls[0] as [string, WarrenError];
    expect(kind).toBe('fatal');
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('WARREN_PROTOCOL');
    expect(error.message).toBe('invalid frame header: bad magic');
  });

  it('junk in lenient mode → onJunk, then the frame', () => {
    const calls = decodeAll(Buffer.concat([Buffer.from('this is plain text\n'), frame(FrameType.CANCEL, 2, 1, '')]), { lenient: true });
    expect(calls).toEqual([
      ['junk', Buffer.from('this is plain text\n')],
      ['cancel', 1],
    ]);
  });

  it('a header over maxFrameSize → onFatal(FrameTooLargeError)', () => {
    const h = harness({ maxFrameSize: 8 });
    h.framing.feed(frame(FrameType.RESPONSE, CodecId.json, 1, '"123456789"').subarray(0, HEADER_SIZE));
    expect(h.calls).toHaveLength(1);
    const [kind, error] = h.calls[0] as [string, WarrenError];
    expect(kind).toBe('fatal');
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(error.code).toBe('WARREN_FRAME_TOO_LARGE');
    expect(error.data).toEqual({ size: 11, limit: 8 });
  });

  it('a stream ending inside a frame → onFatal on end()', () => {
    const h = harness();
    h.framing.feed(frame(FrameType.RESPONSE, CodecId.json, 1, '"abc"').subarray(0, HEADER_SIZE + 2));
    expect(h.calls).toEqual([]);
    h.framing.end();
    expect(h.calls).toHaveLength(1);
    const [kind, error] = h.calls[0] as [string, WarrenError];
    expect(kind).toBe('fatal');
    expect(error.code).toBe('WARREN_PROTOCOL');
    expect(error.message).toBe('stream ended inside a frame: 2 of 5 payload bytes received');
  });
});

describe('BinaryFraming: writes that cannot be encoded throw and push nothing', () => {
  it('a method name over 255 bytes → WARREN_INVALID_ARGUMENT', () => {
    const h = harness();
    for (const method of ['m'.repeat(256), 'é'.repeat(128)]) {
      for (const write of [() => h.framing.writeRequest(1, method, 1), () => h.framing.writeNotify(method, 1)]) {
        const error = thrown(write);
        expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
        expect(error.message).toBe('method names are at most 255 bytes, got 256');
      }
    }
    expect(h.pushed).toEqual([]);
  });

  it('a function or a BigInt with the json codec → CodecError', () => {
    const h = harness({ codec: CodecId.json });
    const fnError = thrown(() => h.framing.writeRequest(1, 'm', () => 1));
    expect(fnError).toBeInstanceOf(CodecError);
    expect(fnError.code).toBe('WARREN_CODEC');
    expect(fnError.message).toBe('a function cannot be encoded as JSON');
    const writes = [
      () => h.framing.writeRequest(1, 'm', { n: 1n }),
      () => h.framing.writeNotify('m', 1n),
      () => h.framing.writeResponse(1, [1n], false),
      () => h.framing.writeProgress(1, 1n),
      () => h.framing.writeStreamItem(1, 1n),
    ];
    for (const write of writes) {
      const error = thrown(write);
      expect(error).toBeInstanceOf(CodecError);
      expect(error.code).toBe('WARREN_CODEC');
      expect(error.message).toMatch(/^cannot encode with the json codec: .*BigInt/);
      expect(error.cause).toBeInstanceOf(TypeError);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(thrown(() => h.framing.writeResponse(1, cyclic, false)).code).toBe('WARREN_CODEC');
    expect(h.pushed).toEqual([]);
  });

  it('a non-byte value with the raw codec → CodecError', () => {
    const h = harness();
    const error = thrown(() => h.framing.writeRequest(1, 'm', { a: 1 }, CodecId.raw));
    expect(error).toBeInstanceOf(CodecError);
    expect(error.message).toBe('the raw codec sends bytes or strings, not object');
    expect(h.pushed).toEqual([]);
  });

  it('an error whose data cannot be encoded is sent without its data', () => {
    const h = harness({ codec: CodecId.json });
    h.framing.writeError(1, { code: 'E_BIG', message: 'boom', data: { n: 1n } });
    expect(h.pushed).toHaveLength(1);
    const calls = decodeAll(h.bytes());
    expect(calls).toHaveLength(1);
    const [kind, id, error] = calls[0] as [string, number, WireError];
    expect([kind, id, error.code]).toEqual(['error', 1, 'E_BIG']);
    expect(error.message).toMatch(/^boom \(error data not encodable: cannot encode with the json codec: .*BigInt.*\)$/);
    expect(error.data).toBeUndefined();
  });

  it('a request id outside 0..2^32-1 or not an integer → WARREN_INVALID_ARGUMENT', () => {
    const h = harness();
    for (const [id, shown] of [
      [-1, '-1'],
      [2 ** 32, '4294967296'],
      [1.5, '1.5'],
      ['abc', '"abc"'],
    ] as const) {
      const error = thrown(() => h.framing.writeResponse(id, 1, false));
      expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
      expect(error.message).toBe(`Warren frames carry request ids from 0 to 2^32-1, got ${shown}`);
    }
    expect(h.pushed).toEqual([]);
  });

  it('an unknown codec id → WARREN_INVALID_ARGUMENT', () => {
    const h = harness();
    const error = thrown(() => h.framing.writeRequest(1, 'm', 1, 99));
    expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
    expect(error.message).toBe('unknown codec id 99');
    expect(h.pushed).toEqual([]);
  });
});

describe('BinaryFraming: size limit on write', () => {
  it('a small frame over maxFrameSize → FrameTooLargeError, nothing pushed', () => {
    const h = harness({ maxFrameSize: 100, codec: CodecId.json });
    const error = thrown(() => h.framing.writeRequest(1, 'm', 'x'.repeat(200)));
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect(error.code).toBe('WARREN_FRAME_TOO_LARGE');
    // 1 byte method length + 'm' + the JSON string with its quotes.
    expect(error.data).toEqual({ size: 204, limit: 100 });
    expect(h.pushed).toEqual([]);
  });

  it('a large frame over maxFrameSize → FrameTooLargeError before a buffer is filled, nothing pushed', () => {
    const h = harness({ maxFrameSize: 100_000 });
    const bytes = thrown(() => h.framing.writeResponse(1, Buffer.alloc(200_000), false, CodecId.raw));
    expect(bytes).toBeInstanceOf(FrameTooLargeError);
    expect(bytes.data).toEqual({ size: 200_000, limit: 100_000 });
    const text = thrown(() => h.framing.writeResponse(1, 'é'.repeat(60_000), false, CodecId.json));
    expect(text.data).toEqual({ size: 120_002, limit: 100_000 });
    expect(h.pushed).toEqual([]);
  });

  it('sizes text by its UTF-8 bytes, not its worst case: a payload of exactly the limit is sent', () => {
    for (const [limit, length] of [
      [1000, 998],
      [100_000, 99_998],
    ] as const) {
      const h = harness({ maxFrameSize: limit });
      h.framing.writeResponse(1, 'a'.repeat(length), false, CodecId.json);
      expect(h.pushed).toHaveLength(1);
      expect(parseHeader(h.pushed[0] as Uint8Array).length).toBe(limit);
      expect(decodeAll(h.bytes(), { maxFrameSize: limit })).toEqual([['response', 1, 'a'.repeat(length), false]]);
    }
  });
});

describe('BinaryFraming: output buffers', () => {
  it('puts consecutive small frames next to each other in one slab', () => {
    const h = harness();
    h.framing.writeRequest(1, 'a', { x: 1 });
    h.framing.writeCancel(1);
    h.framing.writeCredit(2, 5);
    h.framing.writeNotify('b', 'text');
    expect(h.pushed).toHaveLength(4);
    for (let i = 1; i < h.pushed.length; i++) {
      const prev = h.pushed[i - 1] as Uint8Array;
      const cur = h.pushed[i] as Uint8Array;
      expect(cur.buffer).toBe(prev.buffer);
      expect(cur.byteOffset).toBe(prev.byteOffset + prev.byteLength);
    }
  });

  it('leaves no gap for a write that failed, and gives a large frame its own buffer', () => {
    const h = harness({ codec: CodecId.json });
    h.framing.writeRequest(1, 'a', 1);
    expect(() => h.framing.writeRequest(2, 'b', 2n)).toThrow(CodecError);
    h.framing.writeResponse(3, Buffer.alloc(100_000, 1), false, CodecId.raw);
    h.framing.writeRequest(4, 'c', 3);
    const [a, big, c] = h.pushed as [Uint8Array, Uint8Array, Uint8Array];
    expect(h.pushed).toHaveLength(3);
    expect(big.buffer).not.toBe(a.buffer);
    expect(big.byteLength).toBe(HEADER_SIZE + 100_000);
    expect(c.buffer).toBe(a.buffer);
    expect(c.byteOffset).toBe(a.byteOffset + a.byteLength);
    expect(decodeAll(h.bytes()).map((x) => x[1])).toEqual([1, 3, 4]);
  });

  it('never rewrites a frame already pushed when the slab fills up and is replaced', () => {
    const h = harness({ codec: CodecId.json });
    const text = 'y'.repeat(300);
    for (let id = 1; id <= 3000; id++) h.framing.writeStreamItem(id, `${id}:${text}`);
    // Over 900 KB of frames: several slabs. Each pushed view must still hold its own frame.
    expect(new Set(h.pushed.map((b) => b.buffer)).size).toBeGreaterThan(2);
    for (let i = 0; i < h.pushed.length; i++) {
      const calls = decodeAll(h.pushed[i] as Uint8Array);
      expect(calls).toEqual([['streamItem', i + 1, `${i + 1}:${text}`]]);
    }
  });

  it('JSON is the codec of an ERROR answering a raw request or one in an unknown codec', () => {
    const h = harness({ codec: CodecId.raw });
    h.framing.writeError(1, { code: 'E', message: 'm' });
    h.framing.writeError(2, { code: 'E', message: 'm' }, 200);
    for (const pushed of h.pushed) {
      const b = Buffer.from(pushed as Uint8Array);
      expect(parseHeader(b).codec).toBe(CodecId.json);
      expect(JSON.parse(b.subarray(HEADER_SIZE).toString())).toEqual({ code: 'E', message: 'm' });
    }
  });
});
