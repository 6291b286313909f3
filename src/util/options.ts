/**
 * Checks for numeric options, with one wording everywhere: "option 'timeoutMs' must be a
 * number of ms ≥ 0, got -1". Each returns the value, or the fallback when it is undefined, so
 * that resolving an options object is one line per option.
 */
import { invalidArgument } from '../errors.js';

/** A whole number of at least `min` (default 1). */
export function wholeNumber(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!(Number.isSafeInteger(v) && v >= min)) throw invalidArgument(`option '${name}' must be a whole number ≥ ${min}, got ${String(v)}`);
  return v;
}

/** A duration in ms of at least `min` (default 0); fractions are allowed. */
export function durationMs(name: string, value: number | undefined, fallback: number, min = 0): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && v >= min)) throw invalidArgument(`option '${name}' must be a number of ms ≥ ${min}, got ${String(v)}`);
  return v;
}

/** A duration in ms over 0. */
export function positiveMs(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && v > 0)) throw invalidArgument(`option '${name}' must be a number of ms > 0, got ${String(v)}`);
  return v;
}
