/**
 * What `ServiceHandle.instanceMetrics()` answers for each instance: its `warren.metrics` snapshot
 * (docs/protocol.md §13.3), or the error that kept it from answering in time.
 */
import { TimeoutError } from '../errors.js';
import type { MetricsSnapshot } from './metrics.js';

export type InstanceMetrics =
  | { instance: number; path: string; snapshot: MetricsSnapshot; error?: undefined }
  | { instance: number; path: string; snapshot?: undefined; error: Error };

/** `promise`, or a TimeoutError for `method` once `timeoutMs` has passed (connecting included). */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, method: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(method, timeoutMs)), timeoutMs);
    timer.unref();
  });
  // The slow answer may still settle later: its rejection is not left unhandled.
  promise.catch(() => undefined);
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
