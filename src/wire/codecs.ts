/**
 * Payload codecs. The codec id travels in every frame header, so each side may write with its
 * own codec and read whatever arrives. Ids 0-127 are Warren's; 128-255 are free for users.
 * Decoding builds plain data only: no codec here instantiates user classes.
 */
import { createRequire } from 'node:module';
// 'msgpackr/pack' is msgpackr without its native addon (see loadNativeDecoder).
import { Packr, RESET_BUFFER_MODE, REUSE_BUFFER_MODE, Unpackr } from 'msgpackr/pack';
import { CodecError, invalidArgument } from '../errors.js';
import { containsProtoKey, PROTO_KEY_LENGTH } from './proto-key.js';

export interface Codec {
  readonly id: number;
  readonly name: string;
  /**
   * Encodes a value. Text codecs may return a string, which the framing writes as UTF-8
   * straight into its output buffer. `undefined` is always sent as an empty payload, so
   * encode is never called with it.
   */
  encode(value: unknown): Uint8Array | string;
  /** Decodes a non-empty payload; throws anything, the framing turns it into CodecError. */
  decode(bytes: Buffer): unknown;
  /** Optional: decodes bytes[start, end) without a view being made first (the hot path). */
  decodeRange?(bytes: Buffer, start: number, end: number): unknown;
  /**
   * Optional: encodes into memory the codec reuses, for a caller that copies the bytes at
   * once (the framing does): `bytes[start, end)` of the result are valid only until the next
   * call. The hot path: nothing is allocated per value.
   */
  encodeTransient?(value: unknown): EncodedRange;
}

/** Bytes [start, end) of a buffer; what encodeTransient answers (one object, reused). */
export interface EncodedRange {
  bytes: Buffer;
  start: number;
  end: number;
}

export const CodecId = { raw: 0, json: 1, msgpack: 2, v8: 3 } as const;
export type CodecName = keyof typeof CodecId;

export const rawCodec: Codec = {
  id: CodecId.raw,
  name: 'raw',
  encode(value) {
    if (value instanceof Uint8Array) return value;
    if (typeof value === 'string') return value;
    throw new CodecError(`the raw codec sends bytes or strings, not ${typeof value}`);
  },
  decode: (bytes) => bytes,
};

export const jsonCodec: Codec = {
  id: CodecId.json,
  name: 'json',
  encode(value) {
    const text = JSON.stringify(value);
    // JSON.stringify answers undefined for functions and symbols: say so instead of sending nothing.
    if (text === undefined) throw new CodecError(`a ${typeof value} cannot be encoded as JSON`);
    return text;
  },
  decode: (bytes) => JSON.parse(bytes.toString('utf8')),
  decodeRange: (bytes, start, end) => JSON.parse(bytes.toString('utf8', start, end)),
};

// Records (msgpackr's shared-structure extension) are off so that any MessagePack library can
// read what Warren writes.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
// msgpackr renames a `__proto__` key to `__proto_` (so that it cannot set a prototype), which
// makes MessagePack and JSON disagree on the same data. A payload that holds those 9 bytes is
// decoded into Maps instead and turned into objects the way JSON.parse builds them: `__proto__`
// an own data key, the prototype untouched. Only such payloads pay for it.
const mapUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false });

function mayHoldProtoKey(bytes: Buffer, start: number, end: number): boolean {
  if (end - start <= PROTO_KEY_LENGTH) return false;
  // A payload whose top-level value is a scalar (a string, bytes, a number) holds no map key:
  // only a map, an array or an extension (0x80-0x9f, 0xc7-0xc9, 0xd4-0xd8, 0xdc-0xdf) is searched.
  const first = bytes[start] as number;
  const container =
    (first >= 0x80 && first <= 0x9f) ||
    (first >= 0xc7 && first <= 0xc9) ||
    (first >= 0xd4 && first <= 0xd8) ||
    (first >= 0xdc && first <= 0xdf);
  if (!container) return false;
  return containsProtoKey(bytes, start, end);
}

/** Maps (from mapUnpackr) to plain objects, as JSON.parse would build them. */
function mapsToObjects(value: unknown): unknown {
  if (value instanceof Map) {
    const object: Record<string, unknown> = {};
    for (const [k, v] of value) {
      const key = String(mapsToObjects(k));
      // Assigning to `__proto__` would set the prototype: define it as an own data property.
      Object.defineProperty(object, key, { value: mapsToObjects(v), enumerable: true, writable: true, configurable: true });
    }
    return object;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = mapsToObjects(value[i]);
  }
  return value;
}

// The framing's encoder: msgpackr writes every value at the start of the same buffer
// (RESET_BUFFER_MODE) and answers that buffer itself with the range written
// (REUSE_BUFFER_MODE), so that encoding allocates nothing; the framing copies the bytes out
// at once. The buffer grows to the largest value seen: one grown past SCRATCH_KEEP is dropped.
const scratchPackr = new Packr({ useRecords: false, encodeUndefinedAsNil: false });
const SCRATCH_SIZE = 64 * 1024;
const SCRATCH_KEEP = 1024 * 1024;
scratchPackr.useBuffer(Buffer.allocUnsafeSlow(SCRATCH_SIZE));
const encoded: EncodedRange = { bytes: Buffer.alloc(0), start: 0, end: 0 };

function encodeTransient(value: unknown): EncodedRange {
  const target = scratchPackr.pack(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE) as Buffer & { start: number; end: number };
  encoded.bytes = target;
  encoded.start = target.start;
  encoded.end = target.end;
  if (target.length > SCRATCH_KEEP) scratchPackr.useBuffer(Buffer.allocUnsafeSlow(SCRATCH_SIZE));
  return encoded;
}

// msgpackr's native string extractor (the msgpackr-extract addon) decodes strings two to three
// times faster than its JavaScript, and loading it costs ~7 MB of memory per process (bench/service
// idle RSS). So decoding starts in JavaScript, and the addon is loaded once this process has
// decoded NATIVE_AFTER payloads: a busy process gets the speed, an idle instance never pays the
// memory. Importing 'msgpackr' runs its Node entry, which installs the addon into the same
// decoder module 'msgpackr/pack' uses (and honours MSGPACKR_NATIVE_ACCELERATION_DISABLED).
const NATIVE_AFTER = 1000;
let decodeCount = 0;

function countDecode(): void {
  if (++decodeCount === NATIVE_AFTER) loadNativeDecoder();
}

function loadNativeDecoder(): void {
  // Without the addon (no prebuilt binary for this platform) decoding stays in JavaScript.
  import('msgpackr').catch(() => {});
}

// msgpackr caches a DataView on the buffer it reads: decoding frames in place from the chunk
// they arrived in makes one DataView per chunk instead of one per frame.
const range = { start: 0, end: 0 };

export const msgpackCodec: Codec = {
  id: CodecId.msgpack,
  name: 'msgpack',
  encode: (value) => packr.pack(value),
  encodeTransient,
  decode(bytes) {
    countDecode();
    return mayHoldProtoKey(bytes, 0, bytes.length) ? mapsToObjects(mapUnpackr.unpack(bytes)) : unpackr.unpack(bytes);
  },
  decodeRange(bytes, start, end) {
    countDecode();
    if (mayHoldProtoKey(bytes, start, end)) return mapsToObjects(mapUnpackr.unpack(bytes.subarray(start, end)));
    range.start = start;
    range.end = end;
    try {
      return unpackr.unpack(bytes, range);
    } catch {
      // msgpackr words a truncated value differently when more bytes follow in the buffer:
      // decode the payload alone so that the error does not depend on how bytes were chunked.
      return unpackr.unpack(bytes.subarray(start, end));
    }
  },
};

/** Node's structured clone serialisation: Maps, Sets, Dates, typed arrays, bigints, cycles. */
// node:v8 is loaded on the codec's first use: a process that never speaks v8 (most) does not
// pay its memory (~1 MB, bench/service idle RSS).
let v8Module: typeof import('node:v8') | undefined;
const v8 = () => {
  v8Module ??= createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  return v8Module;
};

export const v8Codec: Codec = {
  id: CodecId.v8,
  name: 'v8',
  encode: (value) => v8().serialize(value),
  decode: (bytes) => v8().deserialize(bytes),
};

const registry: (Codec | undefined)[] = [];
const byName = new Map<string, Codec>();

/** Adds a codec for ids 128-255 (or replaces one of those). */
export function registerCodec(codec: Codec): void {
  if (!Number.isInteger(codec.id) || codec.id < 0 || codec.id > 255) {
    throw invalidArgument(`codec id must be an integer from 0 to 255, got ${codec.id}`);
  }
  const existing = registry[codec.id];
  if (existing && codec.id < 128 && existing !== codec) {
    throw invalidArgument(`codec id ${codec.id} is reserved for Warren's '${existing.name}' codec; use 128-255`);
  }
  // A name resolves to one id: taking the name of a codec registered under another id would
  // silently redirect `codec: 'json'` (say) to a different codec.
  const named = byName.get(codec.name);
  if (named && named.id !== codec.id && registry[named.id] === named) {
    throw invalidArgument(`codec name '${codec.name}' is already used by codec id ${named.id}`);
  }
  // A replaced codec's name no longer resolves to the id it gave up.
  if (existing && existing !== codec && byName.get(existing.name) === existing) byName.delete(existing.name);
  registry[codec.id] = codec;
  byName.set(codec.name, codec);
}

for (const codec of [rawCodec, jsonCodec, msgpackCodec, v8Codec]) registerCodec(codec);

export function codecById(id: number): Codec | undefined {
  return registry[id];
}

/** Resolves a codec option given as a name, an id or a codec object. */
export function resolveCodec(option: CodecName | string | number | Codec | undefined, fallback: Codec = msgpackCodec): Codec {
  if (option === undefined) return fallback;
  if (typeof option === 'object') {
    if (registry[option.id] !== option) registerCodec(option);
    return option;
  }
  const codec = typeof option === 'number' ? registry[option] : byName.get(option);
  if (!codec) throw invalidArgument(`unknown codec ${JSON.stringify(option)}; known: ${[...byName.keys()].join(', ')}`);
  return codec;
}
