/**
 * Whether a MessagePack payload may hold the map key `__proto__` (see msgpack.ts for why that
 * key needs care). Searched for every decoded value too large to check as a value, so it must
 * cost far less than the decode it guards: Buffer#indexOf on a subarray costs a view and a native call (~150 ns) even
 * for a 64-byte call, which was half the cost of decoding it. Below JS_SEARCH_MAX bytes a
 * Horspool search in JS (about one byte in nine looked at, nothing allocated) is cheaper;
 * above it the native search wins (bench: 11 ns for 64 B; 1.2 µs in JS vs 0.17 µs native for 4 KiB).
 */
const KEY = Buffer.from('__proto__', 'latin1');
const LAST = KEY.length - 1;

/** How far the window may move when its last byte is b (Horspool's bad-character table). */
const SHIFT = new Uint8Array(256).fill(KEY.length);
for (let i = 0; i < LAST; i++) SHIFT[KEY[i] as number] = LAST - i;

const JS_SEARCH_MAX = 512;

/** Whether bytes[start, end) contain the 9 bytes `__proto__`. */
export function containsProtoKey(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start > JS_SEARCH_MAX) return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).indexOf(KEY) >= 0;
  for (let i = start + LAST; i < end; ) {
    const b = bytes[i] as number;
    if (b === 0x5f && matchesAt(bytes, i - LAST)) return true;
    i += SHIFT[b] as number;
  }
  return false;
}

function matchesAt(bytes: Uint8Array, at: number): boolean {
  for (let j = 0; j < LAST; j++) if (bytes[at + j] !== KEY[j]) return false;
  return true;
}
