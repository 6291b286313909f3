/**
 * The MessagePack codec (Warren's default), on msgpackr: plain data both ways, any MessagePack
 * library can read what it writes, and a `__proto__` key decodes as JSON.parse decodes it.
 */
// 'msgpackr/pack' is msgpackr without its native addon (see loadNativeDecoder).
import { Packr, RESET_BUFFER_MODE, REUSE_BUFFER_MODE, Unpackr } from 'msgpackr/pack';
import { type Codec, CodecId, type EncodedRange } from './codec.js';
import { containsProtoKey } from './proto-key.js';

// Records (msgpackr's shared-structure extension) are off so that any MessagePack library can
// read what Warren writes.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
// msgpackr renames a `__proto__` key to `__proto_` (so that it cannot set a prototype), which
// makes MessagePack and JSON disagree on the same data. A payload that may have held that key
// is decoded again into Maps and turned into objects the way JSON.parse builds them:
// `__proto__` an own data key, the prototype untouched. Only such payloads pay for it.
const mapUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: false });

/**
 * How far the decoded value is searched for a `__proto_` key before the bytes are searched
 * instead: values and keys looked at. Most calls and answers are a short array or object of
 * scalars ([method, url, body], [status, body]), answered here without reading their bytes
 * again; a larger value is cheaper to search as bytes (proto-key.ts).
 */
const WALK_BUDGET = 32;

/**
 * Whether the value msgpackr decoded holds no `__proto_` key, so its input held no `__proto__`
 * key: true, false (it may have), or undefined when the search ran out of budget.
 */
function clearOfProtoKey(value: object): boolean | undefined {
  let budget = WALK_BUDGET;
  const pending: object[] = [value];
  while (pending.length > 0) {
    const current = pending.pop() as object;
    if (Array.isArray(current)) {
      budget -= current.length;
      if (budget < 0) return undefined;
      for (const item of current) if (typeof item === 'object' && item !== null && !(item instanceof Uint8Array)) pending.push(item);
    } else if (Object.getPrototypeOf(current) === Object.prototype) {
      if (Object.hasOwn(current, '__proto_')) return false;
      for (const key in current) {
        if (--budget < 0) return undefined;
        const item = (current as Record<string, unknown>)[key];
        if (typeof item === 'object' && item !== null && !(item instanceof Uint8Array)) pending.push(item);
      }
    } else if (!(current instanceof Uint8Array)) {
      // An extension's object (a Date, an Error...): leave it to the byte search.
      return undefined;
    }
  }
  return true;
}

/** The decode of bytes[start, end) as JSON would give it, when the fast decode may have renamed a key. */
function exactDecode(fast: unknown, bytes: Buffer, start: number, end: number): unknown {
  if (typeof fast !== 'object' || fast === null) return fast;
  const clear = clearOfProtoKey(fast);
  if (clear === true || (clear === undefined && !containsProtoKey(bytes, start, end))) return fast;
  return mapsToObjects(mapUnpackr.unpack(bytes.subarray(start, end)));
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
    if (++decodeCount === NATIVE_AFTER) loadNativeDecoder();
    return exactDecode(unpackr.unpack(bytes), bytes, 0, bytes.length);
  },
  decodeRange(bytes, start, end) {
    if (++decodeCount === NATIVE_AFTER) loadNativeDecoder();
    range.start = start;
    range.end = end;
    let fast: unknown;
    try {
      fast = unpackr.unpack(bytes, range);
    } catch {
      // msgpackr words a truncated value differently when more bytes follow in the buffer:
      // decode the payload alone so that the error does not depend on how bytes were chunked.
      fast = unpackr.unpack(bytes.subarray(start, end));
    }
    return exactDecode(fast, bytes, start, end);
  },
};
