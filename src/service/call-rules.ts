/**
 * The rules every service call follows, whatever path it takes: its deadline, when it may go to
 * another instance (the one retry rule), and which failures become HTTP-like answers.
 */
import { isWarrenError, RemoteError, TimeoutError } from '../errors.js';
import type { CallOptions } from './client-options.js';
import type { ServiceResponse } from './define.js';
import { SERVICE_METHODS } from './protocol.js';
import { errorResponse } from './response.js';

export type PeerCallOptions = { timeout?: number; signal?: AbortSignal };

/** A call's deadline and failure classes (CallOptions.deadline, classifyFailures); absent on most calls. */
export interface CallLimits {
  readonly deadline: number;
  /** The timeout of one attempt before the deadline cuts it. */
  readonly timeoutMs: number;
  readonly classify: boolean;
}

/** The peer options of the next attempt: its timeout cut to what is left before the deadline. */
export function withDeadline(peerOptions: PeerCallOptions | undefined, limits: CallLimits): PeerCallOptions | undefined {
  if (limits.deadline === Number.POSITIVE_INFINITY) return peerOptions;
  const left = Math.max(1, Math.ceil(limits.deadline - Date.now()));
  return { ...peerOptions, timeout: Math.min(limits.timeoutMs, left) };
}

export function deadlinePassed(limits: CallLimits): TimeoutError {
  return new TimeoutError(SERVICE_METHODS.call, limits.timeoutMs, 'the call found no instance to answer it before its deadline');
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `retry` on a later microtask: the answer's continuation may run while the peer is failing
 * every request of a closing connection, and a retry starts only once that is over.
 */
export function later<T>(retry: () => Promise<T>): Promise<T> {
  return Promise.resolve().then(retry);
}

/** Only what the peer needs: most calls carry neither a timeout nor a signal. */
export function peerOptionsOf(options: CallOptions): PeerCallOptions | undefined {
  const timeout = options.timeoutMs ?? options.timeout;
  if (timeout === undefined && options.signal === undefined) return undefined;
  const peerOptions: PeerCallOptions = {};
  if (timeout !== undefined) peerOptions.timeout = timeout;
  if (options.signal !== undefined) peerOptions.signal = options.signal;
  return peerOptions;
}

/**
 * The retry rule, one for every path. A call goes to another instance (once) when:
 * - the instance answered 503 WARREN_DRAINING: it did not run the call, whatever its method;
 * - the connection failed before the answer and the call is idempotent: it may have run.
 * A call that was never written (no connection could be had) may always go elsewhere.
 */
export function sendAgainAfter(response: ServiceResponse): boolean {
  return response.status === 503 && isDraining(response);
}

export function sendAgainAfterError(error: unknown, idempotent: boolean): boolean {
  return idempotent && isPeerClosed(error);
}

export function isPeerClosed(error: unknown): boolean {
  return isWarrenError(error) && error.code === 'WARREN_PEER_CLOSED';
}

/** A failed call as the caller sees it: a response when the failure has an HTTP meaning, else the error. */
export function failure(error: unknown): ServiceResponse {
  const mapped = statusFor(error);
  if (mapped) return mapped;
  throw error;
}

/**
 * Failures that have an HTTP meaning become responses: a request too large to send is 413;
 * an answer the service could not encode (a function, a result over the size limit) is 500.
 */
export function statusFor(error: unknown): ServiceResponse | undefined {
  if (!isWarrenError(error)) return undefined;
  if (error instanceof RemoteError) {
    if (error.code === 'WARREN_CODEC' || error.code === 'WARREN_FRAME_TOO_LARGE') {
      return errorResponse(500, 'WARREN_INTERNAL', `the service could not send its answer: ${error.message}`);
    }
    return undefined;
  }
  if (error.code === 'WARREN_FRAME_TOO_LARGE') return errorResponse(413, 'WARREN_FRAME_TOO_LARGE', error.message, error.data);
  return undefined;
}

export function isDraining(response: ServiceResponse): boolean {
  const body = response.body as { error?: { code?: unknown } } | null;
  return body?.error?.code === 'WARREN_DRAINING';
}
