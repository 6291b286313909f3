import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LINE_LENGTH, LineSplitter, splitLines, truncationMarker } from '../../src/supervisor/lines.js';
import { TailBuffer } from '../../src/util/tail-buffer.js';

/** A splitter that records [line, truncated] pairs. */
function recorder(maxLineLength?: number) {
  const lines: [string, boolean][] = [];
  const splitter = new LineSplitter(
    (line, truncated) => lines.push([line, truncated]),
    maxLineLength === undefined ? {} : { maxLineLength },
  );
  const texts = () => lines.map(([line]) => line);
  return { splitter, lines, texts };
}

describe('LineSplitter', () => {
  it('emits complete lines and keeps a partial one until more comes', () => {
    const { splitter, texts } = recorder();
    splitter.write('one\ntw');
    expect(texts()).toEqual(['one']);
    splitter.write('o\nthr');
    expect(texts()).toEqual(['one', 'two']);
    expect(splitter.pendingLength).toBe(3);
    splitter.write(Buffer.from('ee\n'));
    expect(texts()).toEqual(['one', 'two', 'three']);
    expect(splitter.pendingLength).toBe(0);
  });

  it('end() flushes a last line without a newline, once; later writes are ignored', () => {
    const { splitter, texts } = recorder();
    splitter.write('a\nlast');
    splitter.end();
    splitter.end();
    splitter.write('more\n');
    expect(texts()).toEqual(['a', 'last']);
  });

  it('end() after a final newline emits nothing more', () => {
    const { splitter, texts } = recorder();
    splitter.write('a\n');
    splitter.end();
    expect(texts()).toEqual(['a']);
  });

  it('handles \\r\\n, also split across chunks, and keeps a lone \\r inside a line', () => {
    const { splitter, texts } = recorder();
    splitter.write('dos\r\nsplit\r');
    splitter.write('\nmid\rdle\n\r\n');
    splitter.write('tail\r');
    splitter.end();
    expect(texts()).toEqual(['dos', 'split', 'mid\rdle', '', 'tail']);
  });

  it('emits empty lines', () => {
    const { splitter, texts } = recorder();
    splitter.write('\n\na\n\n');
    expect(texts()).toEqual(['', '', 'a', '']);
  });

  it('decodes multi-byte UTF-8 characters cut at any chunk boundary', () => {
    const text = 'é€😀 naïve 日本語\nsecond ✓\n';
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (let cut2 = cut; cut2 <= bytes.length; cut2 += 3) {
        const { splitter, texts } = recorder();
        splitter.write(bytes.subarray(0, cut));
        splitter.write(bytes.subarray(cut, cut2));
        splitter.write(bytes.subarray(cut2));
        splitter.end();
        expect(texts()).toEqual(['é€😀 naïve 日本語', 'second ✓']);
      }
    }
  });

  it('decodes byte by byte', () => {
    const { splitter, texts } = recorder();
    for (const byte of Buffer.from('😀\r\n€')) splitter.write(Buffer.of(byte));
    splitter.end();
    expect(texts()).toEqual(['😀', '€']);
  });

  it('turns an incomplete character at the very end into U+FFFD', () => {
    const { splitter, texts } = recorder();
    splitter.write(Buffer.from('ok €').subarray(0, 5));
    splitter.end();
    expect(texts()).toEqual(['ok \uFFFD']);
  });

  it('cuts a line over the limit, marks it, and skips the rest of it up to the newline', () => {
    const { splitter, lines } = recorder(10);
    splitter.write('0123456789abc');
    expect(lines).toEqual([[`0123456789${truncationMarker(10)}`, true]]);
    splitter.write('defgh');
    splitter.write('ij\nnext\n');
    splitter.write('x'.repeat(25));
    splitter.end();
    expect(lines).toEqual([
      [`0123456789${truncationMarker(10)}`, true],
      ['next', false],
      [`xxxxxxxxxx${truncationMarker(10)}`, true],
    ]);
    expect(truncationMarker(10)).toContain('truncated');
  });

  it('keeps a line of exactly the limit whole, with \\n or \\r\\n, even when the \\r\\n is split', () => {
    const { splitter, lines } = recorder(5);
    splitter.write('abcde\nfghij\r');
    splitter.write('\nklmno\r\n');
    splitter.write('pqrst');
    splitter.end();
    expect(lines).toEqual([
      ['abcde', false],
      ['fghij', false],
      ['klmno', false],
      ['pqrst', false],
    ]);
    const over = recorder(5);
    over.splitter.write('abcdef\nabcde\rX\n');
    expect(over.lines).toEqual([
      [`abcde${truncationMarker(5)}`, true],
      [`abcde${truncationMarker(5)}`, true],
    ]);
  });

  it('never cuts a surrogate pair in two', () => {
    const { splitter, lines } = recorder(4);
    splitter.write('abc😀def\n');
    expect(lines).toEqual([[`abc${truncationMarker(4)}`, true]]);
  });

  it('holds bounded memory whatever a child prints: 100 MB without a newline', () => {
    const { splitter, lines } = recorder();
    const chunk = Buffer.alloc(65_536, 'y');
    let maxPending = 0;
    for (let written = 0; written < 100 * 1_048_576; written += chunk.length) {
      splitter.write(chunk);
      maxPending = Math.max(maxPending, splitter.pendingLength);
    }
    expect(maxPending).toBeLessThanOrEqual(DEFAULT_MAX_LINE_LENGTH + 2);
    expect(lines).toHaveLength(1);
    expect(lines[0]?.[1]).toBe(true);
    expect(lines[0]?.[0].length).toBe(DEFAULT_MAX_LINE_LENGTH + truncationMarker(DEFAULT_MAX_LINE_LENGTH).length);
    splitter.write('\nafter\n');
    expect(lines.map(([line]) => line).slice(1)).toEqual(['after']);
  });

  it('holds bounded memory when a single huge string chunk comes', () => {
    const { splitter, lines } = recorder(100);
    splitter.write(`${'z'.repeat(5_000_000)}\nok`);
    expect(splitter.pendingLength).toBe(2);
    splitter.end();
    expect(lines.map(([line, truncated]) => [line.length, truncated])).toEqual([
      [100 + truncationMarker(100).length, true],
      [2, false],
    ]);
  });

  it('splits the same way whatever the chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'é', '😀', '\n', '\r', '\r\n', 'long-word'), { maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 10 }),
        (parts, cuts) => {
          const bytes = Buffer.from(parts.join(''));
          const whole = recorder(8);
          whole.splitter.write(bytes);
          whole.splitter.end();
          const pieces = recorder(8);
          let at = 0;
          for (const cut of [...cuts].sort((a, b) => a - b)) {
            const end = Math.min(cut, bytes.length);
            if (end < at) continue;
            pieces.splitter.write(bytes.subarray(at, end));
            at = end;
          }
          pieces.splitter.write(bytes.subarray(at));
          pieces.splitter.end();
          expect(pieces.lines).toEqual(whole.lines);
        },
      ),
    );
  });

  it('refuses a bad maxLineLength', () => {
    expect(() => new LineSplitter(() => {}, { maxLineLength: 0 })).toThrow(/maxLineLength/);
    expect(() => new LineSplitter(() => {}, { maxLineLength: 1.5 })).toThrow(expect.objectContaining({ code: 'WARREN_INVALID_ARGUMENT' }));
  });
});

describe('splitLines', () => {
  it('splits a readable stream and flushes the last line when it ends', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    splitLines(stream, (line) => lines.push(line));
    stream.write(Buffer.from('first\nsec'));
    stream.end(Buffer.from('ond'));
    await once(stream, 'end');
    expect(lines).toEqual(['first', 'second']);
  });

  it('ignores a null stream', () => {
    expect(splitLines(null, () => {})).toBeInstanceOf(LineSplitter);
  });
});

describe('TailBuffer', () => {
  it('keeps the last N items, oldest first', () => {
    const tail = new TailBuffer<number>(3);
    expect(tail.size).toBe(0);
    expect(tail.toArray()).toEqual([]);
    expect(tail.push(1)).toBeUndefined();
    expect(tail.push(2)).toBeUndefined();
    expect(tail.toArray()).toEqual([1, 2]);
    expect(tail.push(3)).toBeUndefined();
    expect(tail.push(4)).toBe(1);
    expect(tail.push(5)).toBe(2);
    expect(tail.size).toBe(3);
    expect(tail.toArray()).toEqual([3, 4, 5]);
    expect([...tail]).toEqual([3, 4, 5]);
  });

  it('last(n) gives the newest n, oldest first', () => {
    const tail = new TailBuffer<string>(4);
    for (const item of 'abcdefg') tail.push(item);
    expect(tail.last(2)).toEqual(['f', 'g']);
    expect(tail.last(10)).toEqual(['d', 'e', 'f', 'g']);
    expect(tail.last(0)).toEqual([]);
    expect(tail.last(-1)).toEqual([]);
    expect(tail.last(Number.NaN)).toEqual([]);
  });

  it('matches a plain array sliced to its last N (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(fc.integer(), { maxLength: 100 }), (capacity, items) => {
        const tail = new TailBuffer<number>(capacity);
        for (const item of items) tail.push(item);
        const expected = capacity === 0 ? [] : items.slice(-capacity);
        expect(tail.toArray()).toEqual(expected);
        expect(tail.size).toBe(expected.length);
      }),
    );
  });

  it('with capacity 0 keeps nothing; clear() empties it', () => {
    const none = new TailBuffer<number>(0);
    expect(none.push(1)).toBe(1);
    expect(none.size).toBe(0);
    const tail = new TailBuffer<number>(2);
    tail.push(1);
    tail.push(2);
    tail.push(3);
    tail.clear();
    expect(tail.toArray()).toEqual([]);
    tail.push(4);
    expect(tail.toArray()).toEqual([4]);
  });

  it('refuses a bad capacity', () => {
    expect(() => new TailBuffer(-1)).toThrow(/capacity/);
    expect(() => new TailBuffer(2.5)).toThrow(expect.objectContaining({ code: 'WARREN_INVALID_ARGUMENT' }));
  });
});
