import { describe, expect, it } from 'vitest';
import { isWarrenError } from '../../src/errors.js';
import { doublingDelay, jittered } from '../../src/util/backoff.js';
import { errnoCode, isOutOfFds } from '../../src/util/errno.js';
import { isAsyncIterable, isPlainObject, isPromiseLike } from '../../src/util/guards.js';
import { durationMs, positiveMs, wholeNumber } from '../../src/util/options.js';

describe('util', () => {
  it('doublingDelay starts at firstMs, doubles, stops at maxMs and never overflows', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => doublingDelay(n, 5, 100))).toEqual([5, 10, 20, 40, 80, 100]);
    expect(doublingDelay(5000, 1, 60_000)).toBe(60_000);
    expect(doublingDelay(-1, 7, 100)).toBe(7);
  });

  it('jittered stays between half the delay and the delay', () => {
    for (let i = 0; i < 200; i++) {
      const d = jittered(100);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThan(100);
    }
  });

  it('option checks return the value or the fallback and say what was wrong in one wording', () => {
    expect(wholeNumber('n', undefined, 3)).toBe(3);
    expect(wholeNumber('n', 0, 3, 0)).toBe(0);
    expect(durationMs('t', 2.5, 0)).toBe(2.5);
    expect(positiveMs('t', undefined, 10)).toBe(10);
    const cases: [() => unknown, string][] = [
      [() => wholeNumber('size', 1.5, 1), "option 'size' must be a whole number ≥ 1, got 1.5"],
      [() => wholeNumber('size', 0, 1), "option 'size' must be a whole number ≥ 1, got 0"],
      [() => durationMs('graceMs', -1, 0), "option 'graceMs' must be a number of ms ≥ 0, got -1"],
      [() => durationMs('graceMs', Number.NaN, 0), "option 'graceMs' must be a number of ms ≥ 0, got NaN"],
      [() => positiveMs('timeoutMs', 0, 1), "option 'timeoutMs' must be a number of ms > 0, got 0"],
    ];
    for (const [call, message] of cases) {
      let error: unknown;
      try {
        call();
      } catch (e) {
        error = e;
      }
      expect(isWarrenError(error) && error.code).toBe('WARREN_INVALID_ARGUMENT');
      expect((error as Error).message).toBe(message);
    }
  });

  it('guards and errno helpers', () => {
    expect(isPromiseLike(Promise.resolve())).toBe(true);
    expect(isPromiseLike(JSON.parse('{"then": 1}'))).toBe(false);
    expect(isAsyncIterable((async function* () {})())).toBe(true);
    expect(isAsyncIterable([])).toBe(false);
    expect([isPlainObject({}), isPlainObject([]), isPlainObject(Buffer.alloc(1)), isPlainObject(null)]).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(errnoCode(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe('ENOENT');
    expect(errnoCode(null)).toBeUndefined();
    expect([isOutOfFds({ code: 'EMFILE' }), isOutOfFds({ code: 'ENFILE' }), isOutOfFds({ code: 'EPIPE' })]).toEqual([true, true, false]);
  });
});
