/**
 * The Warren frame header: 16 bytes, big-endian (network order). docs/protocol.md describes
 * it byte by byte; test/wire/protocol-doc.test.ts checks the vectors printed there.
 *
 *   0  magic 0x57 ('W')
 *   1  magic 0xAE (a UTF-8 continuation byte: text written by console.log never holds "W\xAE")
 *   2  version (1)
 *   3  frame type
 *   4  codec id
 *   5  flags
 *   6  request id, u32
 *  10  payload length, u32
 *  14  CRC-16/CCITT-FALSE of bytes 0..13, u16
 */

export const MAGIC_0 = 0x57;
export const MAGIC_1 = 0xae;
export const VERSION = 1;
export const HEADER_SIZE = 16;

export const FrameType = {
  REQUEST: 1,
  RESPONSE: 2,
  ERROR: 3,
  NOTIFY: 4,
  CANCEL: 5,
  PROGRESS: 6,
  STREAM_ITEM: 7,
  STREAM_END: 8,
  CREDIT: 9,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];
export const MAX_FRAME_TYPE = 9;

/**
 * Items a stream's producer may send before the consumer's first CREDIT: one, so the first
 * item needs no round trip; the consumer grants the rest of its window as the stream opens,
 * which lets each consumer choose its own window.
 */
export const INITIAL_STREAM_CREDIT = 1;

/** Flag bit on a RESPONSE: the result opens a stream of STREAM_ITEM frames. */
export const FLAG_STREAM = 0x01;
export const KNOWN_FLAGS = FLAG_STREAM;

// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor): a table
// lookup per byte over 14 bytes costs less than calling into native code for each frame.
const CRC_TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  CRC_TABLE[i] = c;
}

export function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >>> 8) ^ (bytes[i] as number)) & 0xff] as number);
  }
  return crc;
}

/** Writes a complete header at `offset`. */
export function writeHeader(buf: Uint8Array, offset: number, type: number, codec: number, flags: number, id: number, length: number): void {
  buf[offset] = MAGIC_0;
  buf[offset + 1] = MAGIC_1;
  buf[offset + 2] = VERSION;
  buf[offset + 3] = type;
  buf[offset + 4] = codec;
  buf[offset + 5] = flags;
  buf[offset + 6] = id >>> 24;
  buf[offset + 7] = id >>> 16;
  buf[offset + 8] = id >>> 8;
  buf[offset + 9] = id;
  buf[offset + 10] = length >>> 24;
  buf[offset + 11] = length >>> 16;
  buf[offset + 12] = length >>> 8;
  buf[offset + 13] = length;
  const crc = crc16(buf, offset, offset + 14);
  buf[offset + 14] = crc >>> 8;
  buf[offset + 15] = crc;
}

export function readU32(buf: Uint8Array, offset: number): number {
  return (
    (((buf[offset] as number) << 24) |
      ((buf[offset + 1] as number) << 16) |
      ((buf[offset + 2] as number) << 8) |
      (buf[offset + 3] as number)) >>>
    0
  );
}

/** A decoded header, for tools and tests; the decoder reads fields in place instead. */
export interface FrameHeader {
  version: number;
  type: number;
  codec: number;
  flags: number;
  id: number;
  length: number;
}

/** Why a 16-byte header is not valid, or null when it is. */
export function headerProblem(buf: Uint8Array, offset: number): string | null {
  if (buf[offset] !== MAGIC_0 || buf[offset + 1] !== MAGIC_1) return 'bad magic';
  const crc = ((buf[offset + 14] as number) << 8) | (buf[offset + 15] as number);
  if (crc16(buf, offset, offset + 14) !== crc) return 'header check (CRC-16) mismatch';
  if (buf[offset + 2] !== VERSION) return `unsupported version ${buf[offset + 2]}`;
  const type = buf[offset + 3] as number;
  if (type < 1 || type > MAX_FRAME_TYPE) return `unknown frame type ${type}`;
  if (((buf[offset + 5] as number) & ~KNOWN_FLAGS) !== 0) return `unknown flags 0x${(buf[offset + 5] as number).toString(16)}`;
  return null;
}

export function parseHeader(buf: Uint8Array, offset = 0): FrameHeader {
  return {
    version: buf[offset + 2] as number,
    type: buf[offset + 3] as number,
    codec: buf[offset + 4] as number,
    flags: buf[offset + 5] as number,
    id: readU32(buf, offset + 6),
    length: readU32(buf, offset + 10),
  };
}
