/** The one bounded wait of the tests: for a condition that other events (processes, sockets) make true. */
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';

export interface UntilOptions {
  /** Fail after this long (default 30 s). A guard against a hang: no test depends on how long anything takes. */
  timeoutMs?: number;
  /** Wait between checks after the first few turns of the event loop (default 10 ms). */
  intervalMs?: number;
  /** What is waited for, for the error (default the condition's source). */
  message?: string | (() => string) | undefined;
}

/** The first checks run on consecutive turns of the event loop, so a condition that is about to hold is seen at once. */
const IMMEDIATE_TURNS = 10;

/**
 * Checks `condition` until it returns something truthy, and resolves with that value; rejects
 * with `timed out after N ms waiting for <what>` once the deadline has passed. `what` is the
 * message, or the options (a number is the timeout).
 */
export async function until<T>(
  condition: () => T | Promise<T>,
  what?: string | (() => string) | UntilOptions,
  options: number | UntilOptions = {},
): Promise<NonNullable<T>> {
  const opts: UntilOptions = {
    ...(typeof what === 'object' ? what : { message: what }),
    ...(typeof options === 'number' ? { timeoutMs: options } : options),
  };
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  for (let turn = 0; ; turn++) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      const message = typeof opts.message === 'function' ? opts.message() : (opts.message ?? condition.toString());
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    }
    await (turn < IMMEDIATE_TURNS ? nextTurn() : sleep(opts.intervalMs ?? 10));
  }
}
