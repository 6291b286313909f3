/**
 * What a payload codec is. The codec id travels in every frame header, so each side may write
 * with its own codec and read whatever arrives. Ids 0-127 are Warren's; 128-255 are free for users.
 */
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
