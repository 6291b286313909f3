/**
 * The one hello handshake of a Warren socket, shared by service instances and the supervisor's
 * control socket: a connection proves it holds the token once, with its first request.
 *
 * Until then it is held on a short leash, so that connections that never authenticate cannot
 * hold a process's memory: its frames may only be small (checked from each header, before the
 * payload is buffered), and it must say a good hello within a deadline. A wrong token is
 * answered with WARREN_UNAUTHORIZED; after `maxFailures` of them the connection is closed,
 * once the answer is written, so the caller learns why.
 */
import { UnauthorizedError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { FailureLimiter, type TokenVerifier } from './auth.js';

export interface HelloOptions<R> {
  /** The request method that carries `{ token, … }`. */
  method: string;
  verifier: TokenVerifier;
  /** Failed hellos before the connection is closed (3). */
  maxFailures?: number | undefined;
  /** Largest frame payload accepted before the hello (4096 bytes). */
  preHelloFrameBytes?: number | undefined;
  /** How long a connection may take to say a good hello, in ms (5000); 0 for no deadline. */
  helloTimeoutMs?: number | undefined;
  /** Called with the hello's params once its token is good; what it returns answers the hello. */
  onTrusted(params: Record<string, unknown>): R;
}

export interface HelloState {
  /** Whether this connection said a good hello. */
  readonly trusted: boolean;
}

export const DEFAULT_PRE_HELLO_FRAME_BYTES = 4096;
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000;

/** Installs the hello handler on a new connection; call it before any byte is read (on accept). */
export function acceptHello<R>(peer: Peer, options: HelloOptions<R>): HelloState {
  const state = { trusted: false };
  const failures = new FailureLimiter(options.maxFailures);
  const helloTimeoutMs = options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
  // Data arrives on a later tick than the accept, so this limit applies from the first header.
  peer.setReceiveLimit(options.preHelloFrameBytes ?? DEFAULT_PRE_HELLO_FRAME_BYTES);
  let timer: NodeJS.Timeout | undefined;
  if (helloTimeoutMs > 0) {
    timer = setTimeout(() => peer.destroy(new UnauthorizedError(`no hello within ${helloTimeoutMs} ms`)), helloTimeoutMs);
    timer.unref();
    peer.on('close', () => clearTimeout(timer));
  }
  peer.onRequest(options.method, (raw) => {
    const params = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
    if (!options.verifier.verify(params.token)) {
      if (failures.recordFailure()) setImmediate(() => peer.destroy(new UnauthorizedError('too many failed hellos')));
      throw new UnauthorizedError('wrong or missing token');
    }
    if (!state.trusted) {
      state.trusted = true;
      clearTimeout(timer);
      peer.setReceiveLimit();
    }
    return options.onTrusted(params);
  });
  return state;
}
