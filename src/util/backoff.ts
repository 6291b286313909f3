/** Delay schedules shared by every retry in Warren: restarts, recycles, connects. */

/** The delay before try `n` (from 0): `firstMs`, doubling each time, at most `maxMs`. */
export function doublingDelay(n: number, firstMs: number, maxMs: number): number {
  // Past 2^31 the cap has long been reached: no overflow to Infinity.
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(n, 0), 31));
}

/** `delayMs` scaled by a random factor from 0.5 to 1, so that the callers of a burst do not come back all at once. */
export function jittered(delayMs: number): number {
  return delayMs * (0.5 + Math.random() / 2);
}
