/**
 * Payload codecs. The codec id travels in every frame header, so each side may write with its
 * own codec and read whatever arrives. Ids 0-127 are Warren's; 128-255 are free for users.
 * Decoding builds plain data only: no codec here instantiates user classes.
 */
import { createRequire } from 'node:module';
import { CodecError, invalidArgument } from '../errors.js';
import { type Codec, CodecId, type CodecName } from './codec.js';
import { msgpackCodec } from './msgpack.js';

export type { Codec, CodecName, EncodedRange } from './codec.js';
export { CodecId } from './codec.js';
export { msgpackCodec } from './msgpack.js';

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
