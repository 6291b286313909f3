/** The `__proto__` search that guards msgpack decoding agrees with Buffer#indexOf on any bytes and range. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containsProtoKey } from '../../src/wire/proto-key.js';

const KEY = Buffer.from('__proto__', 'latin1');
// Bytes drawn mostly from the key's own letters, so that near misses and overlaps are common.
const byte = fc.oneof(fc.constantFrom(0x5f, 0x70, 0x72, 0x6f, 0x74), fc.integer({ min: 0, max: 255 }));

describe('containsProtoKey', () => {
  it('finds the key wherever it lies in the range, and only inside the range', () => {
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 700 }), fc.nat(700), fc.nat(700), fc.option(fc.nat(700)), (raw, a, b, insertAt) => {
        const bytes = Buffer.from(raw);
        if (insertAt !== null) KEY.copy(bytes, Math.min(insertAt, Math.max(0, bytes.length - KEY.length)));
        const start = Math.min(a, b, bytes.length);
        const end = Math.min(Math.max(a, b), bytes.length);
        expect(containsProtoKey(bytes, start, end)).toBe(bytes.subarray(start, end).indexOf(KEY) >= 0);
      }),
      { numRuns: 3000 },
    );
  });

  it('finds a key at the very start, at the very end and after a near miss', () => {
    const at = (text: string, start = 0, end = text.length) => containsProtoKey(Buffer.from(text, 'latin1'), start, end);
    expect(at('__proto__')).toBe(true);
    expect(at('xx__proto__')).toBe(true);
    expect(at('__proto___')).toBe(true);
    expect(at('__proto_x__proto__')).toBe(true);
    expect(at('___proto_')).toBe(false);
    expect(at('__proto__', 0, 8)).toBe(false);
    expect(at('x__proto__', 1, 10)).toBe(true);
    expect(at('x__proto__', 2, 10)).toBe(false);
    expect(at('')).toBe(false);
  });
});
