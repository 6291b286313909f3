/**
 * When to restart a crashed instance: exponential backoff from minDelayMs to maxDelayMs,
 * starting over once a process has run stableAfterMs; more than maxUnstableRestarts unstable
 * exits in a row give up (the instance becomes `errored`). Pure: the supervisor owns the timers.
 */
import { doublingDelay } from '../util/backoff.js';
import type { RestartPolicy } from './config.js';

export type RestartDecision =
  | { readonly restart: true; readonly delayMs: number }
  | { readonly restart: false; readonly unstableExits: number };

export class RestartBackoff {
  private unstable = 0;

  constructor(private readonly policy: RestartPolicy) {}

  /** Unstable exits in a row so far. */
  get unstableExits(): number {
    return this.unstable;
  }

  /**
   * A process exited unexpectedly after running `uptimeMs` since it was ready (null: it never
   * became ready, which is always unstable).
   */
  onExit(uptimeMs: number | null): RestartDecision {
    const { minDelayMs, maxDelayMs, maxUnstableRestarts, stableAfterMs } = this.policy;
    if (uptimeMs !== null && uptimeMs >= stableAfterMs) {
      this.unstable = 0;
      return { restart: true, delayMs: minDelayMs };
    }
    this.unstable++;
    if (this.unstable > maxUnstableRestarts) return { restart: false, unstableExits: this.unstable };
    return { restart: true, delayMs: doublingDelay(this.unstable - 1, minDelayMs, maxDelayMs) };
  }

  /** Starts over (after a manual restart). */
  reset(): void {
    this.unstable = 0;
  }
}
