import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc16,
  FLAG_STREAM,
  FrameType,
  HEADER_SIZE,
  headerProblem,
  KNOWN_FLAGS,
  MAGIC_0,
  MAGIC_1,
  MAX_FRAME_TYPE,
  parseHeader,
  readU32,
  VERSION,
  writeHeader,
} from '../../src/wire/header.js';

/** CRC-16/CCITT-FALSE written bit by bit from its definition, independent of the table in header.ts. */
function referenceCrc(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** A valid header for the given fields. */
function header(type: number, codec = 1, flags = 0, id = 1, length = 0): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  writeHeader(buf, 0, type, codec, flags, id, length);
  return buf;
}

/** Changes one byte of a header and recomputes its check, so that only that field is wrong. */
function patched(buf: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(buf);
  copy[offset] = value;
  const crc = crc16(copy, 0, 14);
  copy[14] = crc >>> 8;
  copy[15] = crc & 0xff;
  return copy;
}

describe('crc16 (CRC-16/CCITT-FALSE)', () => {
  it('gives the catalogue check value 0x29B1 for "123456789"', () => {
    const bytes = Buffer.from('123456789', 'ascii');
    expect(crc16(bytes, 0, bytes.length)).toBe(0x29b1);
  });

  it('is the initial value 0xFFFF over no bytes', () => {
    expect(crc16(Buffer.from('abc'), 1, 1)).toBe(0xffff);
  });

  it('covers exactly the range [start, end) of a larger buffer', () => {
    const bytes = Buffer.from('xx123456789yy', 'ascii');
    expect(crc16(bytes, 2, 11)).toBe(0x29b1);
    expect(crc16(bytes, 2, 10)).not.toBe(0x29b1);
  });

  it('agrees with a bitwise implementation of the definition on arbitrary input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(crc16(bytes, 0, bytes.length)).toBe(referenceCrc(bytes));
      }),
      { numRuns: 300 },
    );
  });
});

describe('writeHeader / parseHeader', () => {
  it('writes the documented bytes for a json REQUEST with id 1 and a 12-byte payload', () => {
    const buf = header(FrameType.REQUEST, 1, 0, 1, 12);
    expect(buf.toString('hex')).toBe('57ae0101010000000001' + '0000000c' + 'f779');
  });

  it('writes ids and lengths big-endian, up to 2^32-1', () => {
    const buf = header(FrameType.RESPONSE, 2, FLAG_STREAM, 0xffffffff, 0x01020304);
    expect(buf.subarray(6, 10).toString('hex')).toBe('ffffffff');
    expect(buf.subarray(10, 14).toString('hex')).toBe('01020304');
    expect(parseHeader(buf)).toEqual({ version: 1, type: 2, codec: 2, flags: 1, id: 0xffffffff, length: 0x01020304 });
    expect(readU32(buf, 6)).toBe(0xffffffff);
  });

  it('writes at an offset without touching the bytes around the header', () => {
    const buf = Buffer.alloc(HEADER_SIZE + 10, 0xee);
    writeHeader(buf, 5, FrameType.NOTIFY, 3, 0, 0, 77);
    expect(buf.subarray(0, 5).every((b) => b === 0xee)).toBe(true);
    expect(buf.subarray(5 + HEADER_SIZE).every((b) => b === 0xee)).toBe(true);
    expect(headerProblem(buf, 5)).toBeNull();
    expect(parseHeader(buf, 5)).toEqual({ version: VERSION, type: FrameType.NOTIFY, codec: 3, flags: 0, id: 0, length: 77 });
  });

  it('round-trips every valid field combination and the result passes headerProblem', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_FRAME_TYPE }),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom(0, FLAG_STREAM),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.nat({ max: 32 }),
        (type, codec, flags, id, length, offset) => {
          const buf = Buffer.alloc(offset + HEADER_SIZE);
          writeHeader(buf, offset, type, codec, flags, id, length);
          expect(buf[offset]).toBe(MAGIC_0);
          expect(buf[offset + 1]).toBe(MAGIC_1);
          expect(headerProblem(buf, offset)).toBeNull();
          expect(parseHeader(buf, offset)).toEqual({ version: VERSION, type, codec, flags, id, length });
          expect((buf[offset + 14]! << 8) | buf[offset + 15]!).toBe(referenceCrc(buf.subarray(offset, offset + 14)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('numbers the frame types 1 to 9 and knows only the STREAM flag', () => {
    expect(FrameType).toEqual({
      REQUEST: 1,
      RESPONSE: 2,
      ERROR: 3,
      NOTIFY: 4,
      CANCEL: 5,
      PROGRESS: 6,
      STREAM_ITEM: 7,
      STREAM_END: 8,
      CREDIT: 9,
    });
    expect(MAX_FRAME_TYPE).toBe(9);
    expect(FLAG_STREAM).toBe(0x01);
    expect(KNOWN_FLAGS).toBe(0x01);
    expect([MAGIC_0, MAGIC_1, VERSION, HEADER_SIZE]).toEqual([0x57, 0xae, 1, 16]);
  });
});

describe('headerProblem', () => {
  const good = header(FrameType.REQUEST, 1, 0, 42, 10);

  it('accepts every frame type from 1 to 9, with and without the STREAM flag', () => {
    for (let type = 1; type <= 9; type++) {
      expect(headerProblem(header(type), 0)).toBeNull();
      expect(headerProblem(header(type, 2, FLAG_STREAM), 0)).toBeNull();
    }
  });

  it('reports a bad first or second magic byte', () => {
    expect(headerProblem(patched(good, 0, 0x58), 0)).toBe('bad magic');
    expect(headerProblem(patched(good, 1, 0xaf), 0)).toBe('bad magic');
    expect(headerProblem(Buffer.from('GET / HTTP/1.1\r\n', 'ascii'), 0)).toBe('bad magic');
  });

  it('reports a header whose check does not match, for a change in any covered byte', () => {
    for (let i = 2; i < 16; i++) {
      const bad = Buffer.from(good);
      bad[i] = (bad[i] as number) ^ 0x10;
      expect(headerProblem(bad, 0)).toBe('header check (CRC-16) mismatch');
    }
  });

  it('reports an unsupported version when the check is valid', () => {
    expect(headerProblem(patched(good, 2, 2), 0)).toBe('unsupported version 2');
    expect(headerProblem(patched(good, 2, 0), 0)).toBe('unsupported version 0');
  });

  it('reports frame types 0, 10 and 255 when the check is valid', () => {
    expect(headerProblem(patched(good, 3, 0), 0)).toBe('unknown frame type 0');
    expect(headerProblem(patched(good, 3, 10), 0)).toBe('unknown frame type 10');
    expect(headerProblem(patched(good, 3, 255), 0)).toBe('unknown frame type 255');
  });

  it('reports unknown flag bits when the check is valid', () => {
    expect(headerProblem(patched(good, 5, 0x02), 0)).toBe('unknown flags 0x2');
    expect(headerProblem(patched(good, 5, 0x81), 0)).toBe('unknown flags 0x81');
    expect(headerProblem(patched(good, 5, 0xff), 0)).toBe('unknown flags 0xff');
  });

  it('checks the magic before the check, and the check before the fields', () => {
    // Bad magic and a broken check: the magic is reported.
    const both = Buffer.from(good);
    both[0] = 0;
    both[9] = 0xff;
    expect(headerProblem(both, 0)).toBe('bad magic');
    // Unknown type without recomputing the check: the check is reported.
    const typeOnly = Buffer.from(good);
    typeOnly[3] = 10;
    expect(headerProblem(typeOnly, 0)).toBe('header check (CRC-16) mismatch');
  });

  it('reads the header at the given offset', () => {
    const buf = Buffer.concat([Buffer.from('junk'), good]);
    expect(headerProblem(buf, 4)).toBeNull();
    expect(headerProblem(buf, 0)).toBe('bad magic');
  });
});
