/**
 * Parsers of option values for commander's `argParser`: a bad value is refused by commander with
 * an `InvalidArgumentError` (exit code 2, the option named in the message) before any command runs.
 */
import { InvalidArgumentError } from 'commander';

/** A whole number of ms (or of lines) of at least `min`. */
export function wholeNumber(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be a whole number${min > 0 ? ` of at least ${min}` : ' (0 or more)'}, got '${value}'`);
    }
    return n;
  };
}

/** A positive number of ms (fractions allowed). */
export function positiveMs(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a positive number of ms, got '${value}'`);
    }
    return n;
  };
}
