import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodecError, isWarrenError, type WarrenError } from '../../src/errors.js';
import { BinaryFraming } from '../../src/wire/binary.js';
import {
  type Codec,
  CodecId,
  codecById,
  jsonCodec,
  msgpackCodec,
  rawCodec,
  registerCodec,
  resolveCodec,
  v8Codec,
} from '../../src/wire/codecs.js';
import { crc16, HEADER_SIZE, parseHeader } from '../../src/wire/header.js';
import { type Call, recordingSink } from '../support/recording-sink.js';

/** Encodes with a codec and decodes the result from a Buffer, as the framing does. */
function roundTrip(codec: Codec, value: unknown): unknown {
  const encoded = codec.encode(value);
  const bytes = typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : Buffer.from(encoded);
  return codec.decode(bytes);
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

const PLAIN = {
  text: 'héllo ☃ 𝄞',
  int: 42,
  negative: -7,
  big: 2 ** 53 - 1,
  float: 0.1,
  flags: [true, false, null],
  nested: { list: [1, [2, [3]], { deep: 'yes' }], empty: {} },
  emptyList: [],
};

describe('built-in codecs round-trip their values', () => {
  it('json: plain JSON data, written as a string for the framing to put in place', () => {
    expect(typeof jsonCodec.encode(PLAIN)).toBe('string');
    expect(roundTrip(jsonCodec, PLAIN)).toEqual(PLAIN);
    expect(roundTrip(jsonCodec, 'just a string')).toBe('just a string');
    expect(roundTrip(jsonCodec, null)).toBeNull();
    expect(roundTrip(jsonCodec, 0)).toBe(0);
  });

  it('msgpack: plain data, bytes and bigints', () => {
    expect(roundTrip(msgpackCodec, PLAIN)).toEqual(PLAIN);
    expect(roundTrip(msgpackCodec, null)).toBeNull();
    const bytes = roundTrip(msgpackCodec, { blob: Buffer.from([0, 1, 2, 255]) }) as { blob: Uint8Array };
    expect(Buffer.from(bytes.blob).toString('hex')).toBe('000102ff');
    expect(roundTrip(msgpackCodec, 2n ** 63n - 1n)).toBe(2n ** 63n - 1n);
  });

  it('msgpack writes plain MessagePack that any reader understands (no record extension)', () => {
    // {"a":1} as map16 with one key: no 0xd4..0xd8 or 0xc7..0xc9 extension types.
    expect(Buffer.from(msgpackCodec.encode({ a: 1 }) as Uint8Array).toString('hex')).toBe('de0001a16101');
    // A fixmap written by another MessagePack library reads the same.
    expect(msgpackCodec.decode(Buffer.from('81a161a162', 'hex'))).toEqual({ a: 'b' });
  });

  it('v8: Map, Set, Date, bigint, typed arrays and cycles', () => {
    const cyclic: { self?: unknown; name: string } = { name: 'loop' };
    cyclic.self = cyclic;
    const value = {
      map: new Map<unknown, unknown>([
        ['a', 1],
        [2, { b: true }],
      ]),
      set: new Set(['x', 'y']),
      date: new Date('2024-02-29T12:34:56.789Z'),
      big: -(2n ** 100n),
      typed: new Float64Array([1.5, -2.25]),
      cyclic,
    };
    const out = roundTrip(v8Codec, value) as typeof value;
    expect(out.map).toBeInstanceOf(Map);
    expect([...out.map]).toEqual([
      ['a', 1],
      [2, { b: true }],
    ]);
    expect(out.set).toBeInstanceOf(Set);
    expect([...out.set]).toEqual(['x', 'y']);
    expect(out.date).toBeInstanceOf(Date);
    expect(out.date.toISOString()).toBe('2024-02-29T12:34:56.789Z');
    expect(out.big).toBe(-(2n ** 100n));
    expect(out.typed).toBeInstanceOf(Float64Array);
    expect([...out.typed]).toEqual([1.5, -2.25]);
    expect(out.cyclic.self).toBe(out.cyclic);
  });

  it('raw: bytes pass through untouched, strings as UTF-8, anything else is refused', () => {
    const bytes = new Uint8Array([0x57, 0xae, 0, 255]);
    expect(rawCodec.encode(bytes)).toBe(bytes);
    expect(rawCodec.encode('é')).toBe('é');
    const payload = Buffer.from([1, 2, 3]);
    expect(rawCodec.decode(payload)).toBe(payload);
    for (const bad of [42, { a: 1 }, null, true]) {
      const error = thrown(() => rawCodec.encode(bad));
      expect(error).toBeInstanceOf(CodecError);
      expect(error.code).toBe('WARREN_CODEC');
      expect(error.message).toBe(`the raw codec sends bytes or strings, not ${typeof bad}`);
    }
  });

  it('json refuses values that JSON.stringify would silently drop', () => {
    for (const [value, kind] of [
      [() => 1, 'function'],
      [Symbol('s'), 'symbol'],
    ] as const) {
      const error = thrown(() => jsonCodec.encode(value));
      expect(error).toBeInstanceOf(CodecError);
      expect(error.code).toBe('WARREN_CODEC');
      expect(error.message).toBe(`a ${kind} cannot be encoded as JSON`);
    }
    // A BigInt makes JSON.stringify throw; the framing turns that into a CodecError (binary.test.ts).
    expect(() => jsonCodec.encode(1n)).toThrow(TypeError);
  });
});

/**
 * The data a decoded value holds, spelled out without reading any property through the
 * prototype chain (toStrictEqual reads `constructor`, which a payload may define as data): every
 * object's prototype, its own keys in order, and whether each key is a plain data property.
 */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return ['array', Object.getPrototypeOf(value) === Array.prototype, value.map(shape)];
  if (typeof value !== 'object' || value === null) return value;
  return [
    'object',
    Object.getPrototypeOf(value) === Object.prototype,
    Reflect.ownKeys(value).map((key) => {
      const d = Object.getOwnPropertyDescriptor(value, key) as PropertyDescriptor;
      return [String(key), 'value' in d && d.enumerable === true && d.writable === true, shape(d.value)];
    }),
  ];
}

describe('msgpack encodeTransient (the framing encoder)', () => {
  it('writes the same bytes as encode, into one reused buffer, valid until the next call', () => {
    const transient = msgpackCodec.encodeTransient;
    expect(transient).toBeDefined();
    if (transient === undefined) return;
    const values = [{ a: 1, list: [1, 'two', null] }, 'x'.repeat(5000), 42, 'é'.repeat(3000)];
    let buffer: Buffer | undefined;
    for (const value of values) {
      const r = transient(value);
      const bytes = Buffer.from(r.bytes.subarray(r.start, r.end));
      expect(bytes).toEqual(Buffer.from(msgpackCodec.encode(value) as Uint8Array));
      expect(msgpackCodec.decode(bytes)).toEqual(value);
      buffer ??= r.bytes;
      // Nothing allocated per value: the same memory every time (it only grows for a larger value).
      expect(r.bytes).toBe(buffer);
    }
    // A value larger than the kept size is encoded whole, then the large buffer is let go.
    const big = 'b'.repeat(2 * 1024 * 1024);
    const r = transient(big);
    expect(msgpackCodec.decode(Buffer.from(r.bytes.subarray(r.start, r.end)))).toBe(big);
    const after = transient('small');
    expect(after.bytes.length).toBeLessThan(1024 * 1024);
  });
});

describe('decoding never builds application objects', () => {
  it('a msgpack "__proto__" key does not change any prototype', () => {
    // {"__proto__": {"polluted": true}}, written by hand.
    const payload = Buffer.from('81a95f5f70726f746f5f5f81a8706f6c6c75746564c3', 'hex');
    const out = msgpackCodec.decode(payload) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
    // The key is kept as data under its own name, as JSON keeps it.
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('a "__proto__" key decodes the same in msgpack and JSON, at any depth and in any map encoding', () => {
    const text = '{"a":1,"__proto__":{"polluted":true,"__proto__":[{"__proto__":null}]},"__proto_":2}';
    const fromJson = jsonCodec.decode(Buffer.from(text)) as Record<string, unknown>;
    // msgpack written by msgpackr (map16) and by hand with fixmap and a str8 key.
    const packed = msgpackCodec.encode(fromJson) as Buffer;
    const str8 = Buffer.from('81d9095f5f70726f746f5f5f01', 'hex');
    for (const [bytes, expected] of [
      [packed, fromJson],
      [str8, jsonCodec.decode(Buffer.from('{"__proto__":1}'))],
    ] as const) {
      const decoded = msgpackCodec.decode(bytes);
      expect(shape(decoded)).toEqual(shape(expected));
      // The same through the in-place range decoder, with other bytes around the payload.
      const padded = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([4, 5])]);
      expect(shape(msgpackCodec.decodeRange?.(padded, 3, 3 + bytes.length))).toEqual(shape(expected));
    }
    const decoded = msgpackCodec.decode(packed) as Record<string, unknown>;
    expect(Object.keys(decoded)).toEqual(['a', '__proto__', '__proto_']);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    const inner = Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value as Record<string, unknown>;
    expect(Object.getPrototypeOf(inner)).toBe(Object.prototype);
    expect(Object.hasOwn(inner, '__proto__')).toBe(true);
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
  });

  it('a "__proto__" key deep in a value too large to search as a value is still found (the bytes are searched)', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ [`k${i}`]: i }));
    for (const text of [
      `[${JSON.stringify(many(100)).slice(1, -1)},{"__proto__":{"polluted":true}}]`,
      `{${Array.from({ length: 100 }, (_, i) => `"k${i}":${i}`).join(',')},"deep":{"__proto__":1}}`,
      '[1,2,[3,[4,[5,[6,{"x":{"__proto__":[]}}]]]]]',
    ]) {
      const fromJson = jsonCodec.decode(Buffer.from(text));
      const packed = msgpackCodec.encode(fromJson) as Buffer;
      expect(JSON.stringify(msgpackCodec.decode(packed))).toBe(JSON.stringify(fromJson));
      const padded = Buffer.concat([Buffer.from([9]), packed, Buffer.from([9])]);
      expect(JSON.stringify(msgpackCodec.decodeRange?.(padded, 1, 1 + packed.length))).toBe(JSON.stringify(fromJson));
      expect(JSON.stringify(fromJson)).toContain('"__proto__"');
    }
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
  });

  it('property: any JSON value decodes the same from JSON text and from its msgpack encoding', () => {
    // Keys drawn with "__proto__" and its neighbours often, so that the rare path is taken.
    const key = fc.oneof(fc.constantFrom('__proto__', '__proto_', 'constructor', 'prototype'), fc.string({ maxLength: 12 }));
    const { json } = fc.letrec((tie) => ({
      json: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, true, false),
        fc.integer(),
        fc.string({ maxLength: 20 }),
        fc.array(tie('json'), { maxLength: 4 }),
        fc.dictionary(key, tie('json'), { maxKeys: 5 }),
      ),
    }));
    // fc.dictionary builds its objects with defineProperty, so "__proto__" is an own key there too.
    fc.assert(
      fc.property(json, (value) => {
        const text = JSON.stringify(value);
        const fromJson = jsonCodec.decode(Buffer.from(text));
        const fromMsgpack = msgpackCodec.decode(msgpackCodec.encode(fromJson) as Buffer);
        expect(shape(fromMsgpack)).toEqual(shape(fromJson));
        expect(JSON.stringify(fromMsgpack)).toBe(text);
      }),
      { numRuns: 300 },
    );
    expect(Object.hasOwn(Object.prototype, 'prototype')).toBe(false);
  });

  it('a JSON "__proto__" key is an own data property, not a prototype', () => {
    const out = jsonCodec.decode(Buffer.from('{"__proto__":{"polluted":true}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out.polluted).toBeUndefined();
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
  });

  it('a class instance sent with v8 comes back as a plain object with its data', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
      norm(): number {
        return Math.hypot(this.x, this.y);
      }
    }
    const out = roundTrip(v8Codec, new Point(3, 4)) as Record<string, unknown>;
    expect(out).not.toBeInstanceOf(Point);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out).toEqual({ x: 3, y: 4 });
    expect(out.norm).toBeUndefined();
  });

  it('a class instance sent with msgpack comes back as a plain object with its data', () => {
    class Box {
      kind = 'box';
      size = 2;
    }
    const out = roundTrip(msgpackCodec, new Box()) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out).toEqual({ kind: 'box', size: 2 });
  });
});

describe('resolveCodec and codecById', () => {
  it('has the documented ids', () => {
    expect(CodecId).toEqual({ raw: 0, json: 1, msgpack: 2, v8: 3 });
    expect([rawCodec, jsonCodec, msgpackCodec, v8Codec].map((c) => [c.id, c.name])).toEqual([
      [0, 'raw'],
      [1, 'json'],
      [2, 'msgpack'],
      [3, 'v8'],
    ]);
    for (const codec of [rawCodec, jsonCodec, msgpackCodec, v8Codec]) expect(codecById(codec.id)).toBe(codec);
    expect(codecById(4)).toBeUndefined();
    expect(codecById(127)).toBeUndefined();
  });

  it('resolves names, ids and codec objects, and falls back when nothing is given', () => {
    expect(resolveCodec('json')).toBe(jsonCodec);
    expect(resolveCodec('v8')).toBe(v8Codec);
    expect(resolveCodec(0)).toBe(rawCodec);
    expect(resolveCodec(2)).toBe(msgpackCodec);
    expect(resolveCodec(jsonCodec)).toBe(jsonCodec);
    expect(resolveCodec(undefined)).toBe(msgpackCodec);
    expect(resolveCodec(undefined, jsonCodec)).toBe(jsonCodec);
  });

  it('refuses unknown names and ids with WARREN_INVALID_ARGUMENT naming the known codecs', () => {
    for (const [option, shown] of [
      ['yaml', '"yaml"'],
      ['JSON', '"JSON"'],
      [99, '99'],
      [-1, '-1'],
    ] as const) {
      const error = thrown(() => resolveCodec(option));
      expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
      expect(error.message).toContain(`unknown codec ${shown}`);
      expect(error.message).toContain('known: raw, json, msgpack, v8');
    }
  });
});

describe('registerCodec', () => {
  const impostor = (id: number, name: string): Codec => ({ id, name, encode: () => 'x', decode: () => 'x' });

  it("refuses to replace one of Warren's reserved codecs", () => {
    for (const builtin of [rawCodec, jsonCodec, msgpackCodec, v8Codec]) {
      const error = thrown(() => registerCodec(impostor(builtin.id, 'mine')));
      expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
      expect(error.message).toBe(`codec id ${builtin.id} is reserved for Warren's '${builtin.name}' codec; use 128-255`);
      expect(codecById(builtin.id)).toBe(builtin);
      expect(() => resolveCodec('mine')).toThrow(/unknown codec/);
    }
    // Registering the same built-in again is harmless.
    registerCodec(jsonCodec);
    expect(codecById(1)).toBe(jsonCodec);
  });

  it('refuses ids outside 0-255', () => {
    for (const id of [256, -1, 1.5, Number.NaN]) {
      const error = thrown(() => registerCodec(impostor(id, `bad-${id}`)));
      expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
      expect(error.message).toBe(`codec id must be an integer from 0 to 255, got ${id}`);
    }
  });

  it("refuses a user codec that takes a built-in codec's name", () => {
    const error = thrown(() => registerCodec(impostor(201, 'json')));
    expect(error.code).toBe('WARREN_INVALID_ARGUMENT');
    expect(error.message).toContain("'json'");
    expect(resolveCodec('json')).toBe(jsonCodec);
    expect(codecById(201)).toBeUndefined();
  });

  it('lets a user codec at 128-255 be replaced, and its old name then no longer resolves', () => {
    const first = impostor(202, 'first-202');
    const second = impostor(202, 'second-202');
    registerCodec(first);
    expect(resolveCodec('first-202')).toBe(first);
    registerCodec(second);
    expect(codecById(202)).toBe(second);
    expect(resolveCodec('second-202')).toBe(second);
    expect(resolveCodec(202)).toBe(second);
    expect(() => resolveCodec('first-202')).toThrow(/unknown codec "first-202"/);
  });
});

describe('a custom codec (id 200) end to end', () => {
  // Lines of "key=value", a format no built-in codec reads.
  const kv: Codec = {
    id: 200,
    name: 'kv',
    encode(value) {
      if (typeof value !== 'object' || value === null) throw new CodecError('kv encodes flat objects only');
      return Object.entries(value)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join('\n');
    },
    decode(bytes) {
      const text = bytes.toString('utf8');
      if (!text.includes('=')) throw new Error('not key=value lines');
      return Object.fromEntries(text.split('\n').map((line) => line.split('=', 2)));
    },
  };

  it('is registered by resolveCodec(object), then found by name and id', () => {
    expect(resolveCodec(kv)).toBe(kv);
    expect(resolveCodec('kv')).toBe(kv);
    expect(resolveCodec(200)).toBe(kv);
    expect(codecById(200)).toBe(kv);
  });

  it('carries requests and responses through BinaryFraming with codec byte 200', () => {
    resolveCodec(kv);
    const pushed: Buffer[] = [];
    const calls: Call[] = [];
    const writer = new BinaryFraming({
      sink: recordingSink([]),
      out: { push: (b, s, e) => pushed.push(Buffer.from(b.subarray(s, e))) },
      codec: 200,
    });
    const reader = new BinaryFraming({ sink: recordingSink(calls), out: { push: () => {} } });
    writer.writeRequest(5, 'set', { user: 'ann', role: 'admin' });
    writer.writeResponse(5, { ok: 'yes' }, false, 200);
    writer.writeStreamItem(6, { n: '1' });
    expect(pushed.map((b) => parseHeader(b).codec)).toEqual([200, 200, 200]);
    expect(pushed[0]?.subarray(HEADER_SIZE).toString('latin1')).toBe('\x03setuser=ann\nrole=admin');
    for (const b of pushed) reader.feed(b);
    expect(calls).toEqual([
      ['request', 5, 'set', { user: 'ann', role: 'admin' }, 200],
      ['response', 5, { ok: 'yes' }, false],
      ['streamItem', 6, { n: '1' }],
    ]);
  });

  it('reports its decode failures as CodecError and its encode failures to the writer', () => {
    resolveCodec(kv);
    const calls: Call[] = [];
    const pushed: Buffer[] = [];
    const framing = new BinaryFraming({
      sink: recordingSink(calls),
      out: { push: (b, s, e) => pushed.push(Buffer.from(b.subarray(s, e))) },
      codec: 200,
    });
    const error = thrown(() => framing.writeRequest(1, 'set', 'not an object'));
    expect(error).toBeInstanceOf(CodecError);
    expect(error.message).toBe('kv encodes flat objects only');
    expect(pushed).toEqual([]);

    const raw = new BinaryFraming({ sink: recordingSink([]), out: { push: (b, s, e) => pushed.push(Buffer.from(b.subarray(s, e))) } });
    raw.writeRequest(2, 'set', 'no equals sign', CodecId.raw);
    // Claim the kv codec for a payload it cannot read, with a fixed-up header check.
    const fixed = Buffer.from(pushed[0] as Buffer);
    fixed[4] = 200;
    const crc = crc16(fixed, 0, 14);
    fixed[14] = crc >>> 8;
    fixed[15] = crc & 0xff;
    framing.feed(fixed);
    expect(calls).toHaveLength(1);
    const [kind, id, err] = calls[0] as [string, number, WarrenError];
    expect([kind, id]).toEqual(['badRequest', 2]);
    expect(err).toBeInstanceOf(CodecError);
    expect(err.code).toBe('WARREN_CODEC');
    expect(err.message).toBe('cannot decode a kv payload: not key=value lines');
  });
});
