import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RestartBackoff } from '../../src/supervisor/backoff.js';

const policy = { minDelayMs: 100, maxDelayMs: 1_000, maxUnstableRestarts: 5, stableAfterMs: 5_000 };

describe('RestartBackoff', () => {
  it('doubles from minDelayMs up to maxDelayMs, then gives up after maxUnstableRestarts', () => {
    const backoff = new RestartBackoff(policy);
    const delays = [1, 2, 3, 4, 5].map(() => backoff.onExit(10));
    expect(delays).toEqual([100, 200, 400, 800, 1000].map((delayMs) => ({ restart: true, delayMs })));
    expect(backoff.onExit(10)).toEqual({ restart: false, unstableExits: 6 });
  });

  it('a process that never became ready is unstable; one that ran stableAfterMs starts the count over', () => {
    const backoff = new RestartBackoff(policy);
    expect(backoff.onExit(null)).toEqual({ restart: true, delayMs: 100 });
    expect(backoff.onExit(null)).toEqual({ restart: true, delayMs: 200 });
    expect(backoff.onExit(5_000)).toEqual({ restart: true, delayMs: 100 });
    expect(backoff.unstableExits).toBe(0);
    expect(backoff.onExit(4_999)).toEqual({ restart: true, delayMs: 100 });
    expect(backoff.unstableExits).toBe(1);
    backoff.reset();
    expect(backoff.unstableExits).toBe(0);
  });

  it('with maxUnstableRestarts 0 the first unstable exit gives up', () => {
    expect(new RestartBackoff({ ...policy, maxUnstableRestarts: 0 }).onExit(0)).toEqual({ restart: false, unstableExits: 1 });
  });

  it('never waits less than minDelayMs nor more than maxDelayMs, whatever the sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.array(fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: null }), { maxLength: 200 }),
        (a, b, uptimes) => {
          const min = Math.min(a, b);
          const max = Math.max(a, b);
          const backoff = new RestartBackoff({ minDelayMs: min, maxDelayMs: max, maxUnstableRestarts: 1000, stableAfterMs: 5_000 });
          for (const uptime of uptimes) {
            const decision = backoff.onExit(uptime);
            if (!decision.restart) throw new Error('gave up below the limit');
            expect(decision.delayMs).toBeGreaterThanOrEqual(min);
            expect(decision.delayMs).toBeLessThanOrEqual(max);
          }
        },
      ),
    );
  });
});
