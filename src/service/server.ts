/**
 * Serves a defined service on `<socketDir>/<service>.<instance>.sock`. Each connection is a
 * Warren peer that first says `warren.hello` with the token, then sends `warren.call`
 * requests (a call in, an answer out, as compact arrays: see call-format.ts); `warren.metrics` returns the
 * service's counters. Connections without a valid token may only call public routes.
 *
 * Shutting down is a handshake, like HTTP/2's GOAWAY: drain() stops listening (the socket file
 * goes, so discovery drops the instance), sends `warren.goaway` on every connection and answers
 * calls that still arrive with 503 WARREN_DRAINING; clients send no more calls on a connection
 * that said goaway and close it once their calls on it are answered. close() waits for that (at
 * most closeGraceMs), so that no call is ever written to a connection the server is closing.
 */
import { invalidArgument, overloaded, WarrenError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { FailureLimiter, loadOrCreateToken, TokenVerifier } from './auth.js';
import { decodeCall, encodeReply } from './call-format.js';
import type { AuthInfo, ServiceDefinition, ServiceResponse } from './define.js';
import { Dispatcher } from './dispatch.js';
import { type GateRegistry, gatedFraming, type HelloGate } from './hello-gate.js';
import { isOutOfFds, listenService } from './listener.js';
import { RouteMetrics } from './metrics.js';
import { type FdCondition, SERVICE_METHODS } from './protocol.js';
import { errorResponse } from './response.js';
import { ensureSocketDir, resolveSocketDir, socketPathFor } from './socket-dir.js';

export { SERVICE_METHODS } from './protocol.js';

export interface ServeOptions {
  /** Socket directory (default: WARREN_SOCKET_DIR, else $XDG_RUNTIME_DIR/warren, else a folder in the temp dir). */
  socketDir?: string;
  /** Instance number, part of the socket name (0). */
  instance?: number;
  /** Make the socket 0660 and the directory group-readable, for clients of the same group. */
  group?: boolean;
  /** Failed hellos before a connection is closed (3). */
  maxAuthFailures?: number;
  /** Called with errors that became 500s (the caller only saw the request id). */
  onInternalError?: (error: unknown, requestId: string, route: string) => void;
  /**
   * How long close() waits, once the calls in progress are done, for the clients to close their
   * connections after `warren.goaway` before it closes them itself (2000 ms).
   */
  closeGraceMs?: number;
  /** A connection that has not said a good hello within this many ms is closed (5000). */
  helloTimeoutMs?: number;
  /** Largest frame payload accepted from a connection before its hello, in bytes (4096). */
  maxPreHelloFrameBytes?: number;
  /** Connections held at once (10000); one more has its hello refused with WARREN_OVERLOADED and is closed. */
  maxConnections?: number;
  /** Length of the accept queue (4096; Linux caps it at net.core.somaxconn). */
  listenBacklog?: number;
}

export type { FdCondition } from './protocol.js';

export interface ServiceServer<D> {
  readonly name: string;
  readonly instance: number;
  readonly path: string;
  readonly deps: D;
  readonly metrics: RouteMetrics;
  /** Calls in progress. */
  readonly inFlight: number;
  /** Connections held (authenticated or not). */
  readonly connections: number;
  /** Whether the instance ran out of file descriptors. */
  readonly fds: Readonly<FdCondition>;
  /**
   * Records that something in this process failed for want of file descriptors (the report
   * timer, a log write): the instance says so in its reports instead of crashing.
   */
  noteFdFailure(error: NodeJS.ErrnoException): void;
  /** Something that needed a descriptor worked again: the condition is over. */
  noteFdRecovered(): void;
  /**
   * Stops listening (the socket file is removed), tells every connection `warren.goaway`, answers
   * new calls with 503 from now on; resolves when the calls in progress are done. Idempotent.
   */
  drain(): Promise<void>;
  /**
   * Drains, waits up to closeGraceMs for the clients to close their connections, closes those
   * left and runs onClose. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts serving `definition`; resolves once it listens and onReady has run.
 * @example
 * const server = await serveService(users, { instance: 0 });
 */
export async function serveService<D>(definition: ServiceDefinition<D>, options: ServeOptions = {}): Promise<ServiceServer<D>> {
  const instance = options.instance ?? 0;
  const closeGraceMs = options.closeGraceMs ?? 2_000;
  if (!(Number.isFinite(closeGraceMs) && closeGraceMs >= 0)) {
    throw new WarrenError('WARREN_INVALID_ARGUMENT', `option 'closeGraceMs' must be a non-negative number of ms, got ${closeGraceMs}`);
  }
  const helloTimeoutMs = nonNegative('helloTimeoutMs', options.helloTimeoutMs, 5_000);
  const maxPreHelloFrameBytes = positiveInteger('maxPreHelloFrameBytes', options.maxPreHelloFrameBytes, 4096);
  const maxConnections = positiveInteger('maxConnections', options.maxConnections, 10_000);
  const listenBacklog = positiveInteger('listenBacklog', options.listenBacklog, 4096);
  const group = options.group ?? false;
  const dir = await ensureSocketDir(resolveSocketDir(options.socketDir), { group });
  await loadOrCreateToken(dir, { group });
  const verifier = new TokenVerifier(dir, { group });
  const path = socketPathFor(dir, definition.name, instance);
  const deps = await definition.dependencies();
  const dispatcher = new Dispatcher(definition, deps, { onInternalError: options.onInternalError });
  const metrics = new RouteMetrics();
  let draining = false;
  let inFlight = 0;
  let idle: (() => void) | undefined;
  let drained: Promise<void> | undefined;

  const finished = () => {
    inFlight--;
    if (inFlight === 0) idle?.();
  };
  // Not async: a synchronous handler's answer goes back without a promise of its own.
  const call = (params: unknown, auth: AuthInfo | null, cancel: { readonly signal: AbortSignal }): unknown => {
    if (draining) {
      return encodeReply(errorResponse(503, 'WARREN_DRAINING', `${definition.name}.${instance} is shutting down; try another instance`));
    }
    const request = decodeCall(params);
    if (request === undefined) {
      return encodeReply(
        errorResponse(400, 'WARREN_BAD_URL', 'a call is [method, url, body?, headers?, requestId?] with string method and url'),
      );
    }
    inFlight++;
    let response: ServiceResponse | Promise<ServiceResponse>;
    try {
      response = dispatcher.dispatch(request, auth, cancel, metrics);
    } catch (error) {
      finished();
      throw error;
    }
    if (response instanceof Promise) {
      return response.then(
        (done) => {
          finished();
          return encodeReply(done);
        },
        (error: unknown) => {
          finished();
          throw error;
        },
      );
    }
    finished();
    return encodeReply(response);
  };

  const fds: FdCondition = { exhausted: false, code: null, lastAt: null, count: 0 };
  const noteFdFailure = (error: NodeJS.ErrnoException) => {
    if (!fds.exhausted) {
      process.stderr.write(
        `${definition.name}.${instance}: out of file descriptors (${error.code} in ${error.syscall ?? 'a call'}): new connections are refused until some are free\n`,
      );
    }
    fds.exhausted = true;
    fds.code = error.code ?? null;
    fds.lastAt = Date.now();
    fds.count++;
  };
  const noteFdRecovered = () => {
    fds.exhausted = false;
  };

  const gates: GateRegistry = new WeakMap();
  const onConnection = (peer: Peer) => {
    if (fds.exhausted) noteFdRecovered();
    let auth: AuthInfo | null = null;
    const gate = gates.get(peer) as HelloGate;
    const failures = new FailureLimiter(options.maxAuthFailures);
    // Until it says a good hello a connection is only allowed small frames (the gate) and a deadline.
    const helloTimer = setTimeout(() => {
      peer.destroy(new WarrenError('WARREN_UNAUTHORIZED', `no hello within ${helloTimeoutMs} ms`));
    }, helloTimeoutMs);
    helloTimer.unref();
    peer.on('close', () => clearTimeout(helloTimer));
    peer.onRequest(SERVICE_METHODS.hello, (params) => {
      const { token, client } = (typeof params === 'object' && params !== null ? params : {}) as { token?: unknown; client?: unknown };
      if (!verifier.verify(token)) {
        // Answer first, then hang up once the limit is reached: the caller learns why.
        if (failures.recordFailure()) setImmediate(() => peer.destroy(new WarrenError('WARREN_UNAUTHORIZED', 'too many failed hellos')));
        throw new WarrenError('WARREN_UNAUTHORIZED', 'wrong or missing token');
      }
      auth = typeof client === 'string' ? { client: client.slice(0, 200) } : {};
      clearTimeout(helloTimer);
      gate.openGate();
      return { service: definition.name, instance, pid: process.pid };
    });
    // The peer's context is passed whole: its signal is only created if a handler asks for it.
    peer.onRequest(SERVICE_METHODS.call, (params, ctx) => call(params, auth, ctx));
    peer.onRequest(SERVICE_METHODS.metrics, () => {
      if (auth === null) throw new WarrenError('WARREN_UNAUTHORIZED', 'metrics need a valid token');
      return metrics.snapshot();
    });
  };

  /** One connection too many: its hello is answered with why, then it is closed; it never gets a call in. */
  const onExcess = (peer: Peer) => {
    const timer = setTimeout(() => peer.destroy(), helloTimeoutMs);
    timer.unref();
    peer.on('close', () => clearTimeout(timer));
    peer.onRequest(SERVICE_METHODS.hello, () => {
      setImmediate(() => void peer.close());
      throw overloaded(`${definition.name}.${instance} holds ${maxConnections} connections, its limit (maxConnections); try again later`);
    });
  };

  const listener = await listenService(path, {
    socketMode: group ? 0o660 : 0o600,
    backlog: listenBacklog,
    maxConnections,
    peerOptions: { framing: gatedFraming(maxPreHelloFrameBytes, gates) },
    onPeer: onConnection,
    onExcess,
    onError: (error) => {
      if (isOutOfFds(error)) noteFdFailure(error);
      else process.stderr.write(`${definition.name}.${instance}: listening socket error (going on): ${error.message}\n`);
    },
  });
  await definition.onReady?.(deps);

  // Resolves once every connection has ended (the clients closed them, or close() did).
  let allClosed: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const drain = () => {
    if (drained) return drained;
    draining = true;
    // No new connection from now on, and the socket file goes: discovery drops this instance.
    allClosed = listener.stopListening();
    for (const peer of listener.peers) {
      if (peer.closed) continue;
      try {
        peer.notify(SERVICE_METHODS.goaway);
      } catch {
        // A peer that does not read (its queue is full) is closed after the grace period.
      }
    }
    drained =
      inFlight === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            idle = resolve;
          });
    return drained;
  };
  /** Resolves when the clients have closed every connection, or after closeGraceMs. */
  const clientsGone = async () => {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, closeGraceMs);
    });
    try {
      await Promise.race([allClosed, grace]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    name: definition.name,
    instance,
    path,
    deps,
    metrics,
    get inFlight() {
      return inFlight;
    },
    get connections() {
      return listener.peers.size;
    },
    fds,
    noteFdFailure,
    noteFdRecovered,
    drain,
    close() {
      closing ??= (async () => {
        await drain();
        await clientsGone();
        await listener.close();
        await definition.onClose?.(deps);
      })();
      return closing;
    },
  };
}

function nonNegative(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(Number.isFinite(v) && v >= 0)) throw invalidArgument(`option '${name}' must be a non-negative number of ms, got ${v}`);
  return v;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(Number.isInteger(v) && v > 0)) throw invalidArgument(`option '${name}' must be a positive integer, got ${v}`);
  return v;
}
