/**
 * Serves a defined service on `<socketDir>/<service>.<instance>.sock`. Each connection is a
 * Warren peer that first says `warren.hello` with the token, then sends `warren.call`
 * requests (a call in, an answer out, as compact arrays: see call-format.ts); `warren.metrics`
 * returns the service's counters. Connections without a valid token may only call public
 * routes. Until its hello a connection may only send small frames, within a deadline, and an
 * instance holds at most maxConnections (see listener.ts).
 *
 * Shutting down is a handshake, like HTTP/2's GOAWAY: drain() stops listening (the socket file
 * goes, so discovery drops the instance), sends `warren.goaway` on every connection and answers
 * calls that still arrive with 503 WARREN_DRAINING; clients send no more calls on a connection
 * that said goaway and close it once their calls on it are answered. close() waits for that (at
 * most closeGraceMs), so that no call is ever written to a connection the server is closing.
 */
import { invalidArgument, overloaded, ServiceError, UnauthorizedError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { loadOrCreateToken, TokenVerifier } from './auth.js';
import { decodeCall, encodeReply } from './call-format.js';
import type { AuthInfo, ResolvedRoute, ServiceDefinition, ServiceResponse } from './define.js';
import { Dispatcher } from './dispatch.js';
import { acceptHello } from './hello.js';
import { logInternalErrorTo } from './internal-error-log.js';
import { isOutOfFds, listenService, type ServiceListener } from './listener.js';
import { RouteMetrics } from './metrics.js';
import type { NatsServing } from './nats/types.js';
import { type FdCondition, SERVICE_METHODS } from './protocol.js';
import { type PublishedRoute, publishRoutes } from './published-routes.js';
import { errorResponse } from './response.js';
import { type ResolvedServeOptions, resolveServeOptions, type ServeOptions } from './serve-options.js';
import { ensureSocketDir, socketPathFor } from './socket-dir.js';
import { isStreamedBody, StreamedAnswer } from './streamed.js';

export type { FdCondition } from './protocol.js';
export { SERVICE_METHODS } from './protocol.js';
export type { ServeOptions } from './serve-options.js';

export interface ServiceServer<D> {
  readonly name: string;
  readonly instance: number;
  readonly path: string;
  readonly deps: D;
  readonly metrics: RouteMetrics;
  /** Calls in progress. */
  readonly inFlight: number;
  /** Connections held under the cap (authenticated or not). */
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
  /**
   * Stops listening and drops every connection now, without waiting for the calls on them (their
   * callers see the connection close); onClose is not run. For a process that must go at once.
   */
  destroy(): void;
}

/** A service whose dependencies are made, not listening yet (ServiceInstance.prepare, prepareService). */
export interface PreparedService<D, S extends ServiceServer<D> = ServiceServer<D>> {
  readonly name: string;
  readonly deps: D;
  readonly options: ResolvedServeOptions;
  /** Listens on `<socketDir>/<name>.<instance>.sock` and runs onReady. Once only (or close()). */
  serve(instance: number): Promise<S>;
  /** Never served after all: runs onClose, so that the dependencies are released. Once only (or serve()). */
  close(): Promise<void>;
}

/** A service served on its socket: made by ServiceInstance.start() (or serveService()). */
export class ServiceInstance<D> implements ServiceServer<D> {
  readonly name: string;
  readonly instance: number;
  readonly metrics = new RouteMetrics();
  readonly fds: FdCondition = { exhausted: false, code: null, lastAt: null, count: 0 };
  private listener!: ServiceListener;
  private readonly dispatcher: Dispatcher<D>;
  private draining = false;
  private running = 0;
  private idle: (() => void) | undefined;
  private drained: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Resolves once every connection has ended (the clients closed them, or close() did). */
  private allClosed: Promise<void> | undefined;
  /** Serving on NATS too (transport `nats`): drained, closed and destroyed with the socket. */
  nats: NatsServing | undefined;

  /**
   * Starts serving `definition`; resolves once it listens and onReady has run.
   * @example
   * const server = await ServiceInstance.start(users, { instance: 0 });
   */
  static async start<D>(definition: ServiceDefinition<D>, options: ServeOptions = {}): Promise<ServiceInstance<D>> {
    const prepared = await ServiceInstance.prepare(definition, options);
    return prepared.serve(prepared.options.instance);
  }

  /**
   * Everything before listening: the socket directory, the token, the dependencies. serve()
   * then listens as a given instance number and runs onReady: the two halves of start(), apart
   * for a supervisor's standby process, which is made ready long before it knows its number.
   */
  static async prepare<D>(definition: ServiceDefinition<D>, options: ServeOptions = {}): Promise<PreparedService<D, ServiceInstance<D>>> {
    const resolved = resolveServeOptions(options);
    const dir = await ensureSocketDir(resolved.socketDir, { group: resolved.group });
    await loadOrCreateToken(dir, { group: resolved.group });
    const verifier = new TokenVerifier(dir, { group: resolved.group });
    const deps = await definition.dependencies();
    let used = false;
    const take = () => {
      if (used) throw invalidArgument(`service '${definition.name}' was prepared once and is served or closed already`);
      used = true;
    };
    return {
      name: definition.name,
      deps,
      options: resolved,
      serve: async (instance) => {
        take();
        const settings = Object.freeze({ ...resolved, instance });
        const server = new ServiceInstance(definition, settings, verifier, socketPathFor(dir, definition.name, instance), deps);
        await server.listen();
        // Loaded only for the nats transport: other instances never pay for the NATS client.
        if (settings.nats) server.nats = (await import('./nats/nats-server.js')).serveOverNats(server, settings.nats);
        await definition.onReady?.(deps);
        return server;
      },
      close: async () => {
        take();
        await definition.onClose?.(deps);
      },
    };
  }

  private constructor(
    private readonly definition: ServiceDefinition<D>,
    private readonly options: ResolvedServeOptions,
    private readonly verifier: TokenVerifier,
    readonly path: string,
    readonly deps: D,
  ) {
    this.name = definition.name;
    this.instance = options.instance;
    const onInternalError =
      options.onInternalError === undefined ? logInternalErrorTo(definition.name) : (options.onInternalError ?? undefined);
    this.onInternalError = onInternalError;
    this.dispatcher = new Dispatcher(definition, deps, { onInternalError });
  }

  private readonly onInternalError: ((error: unknown, requestId: string, route: string) => void) | undefined;

  get inFlight(): number {
    return this.running;
  }

  get connections(): number {
    return this.listener.peers.size;
  }

  private async listen(): Promise<void> {
    const { group, listenBacklog, maxConnections } = this.options;
    this.listener = await listenService(this.path, {
      socketMode: group ? 0o660 : 0o600,
      backlog: listenBacklog,
      maxConnections,
      peerOptions: {},
      onPeer: (peer) => this.onConnection(peer),
      onExcess: (peer) => this.refuse(peer),
      onError: (error) => {
        if (isOutOfFds(error)) this.noteFdFailure(error);
        else process.stderr.write(`${this.label}: listening socket error (going on): ${error.message}\n`);
      },
    });
  }

  private get label(): string {
    return `${this.name}.${this.instance}`;
  }

  noteFdFailure(error: NodeJS.ErrnoException): void {
    const fds = this.fds;
    if (!fds.exhausted) {
      process.stderr.write(
        `${this.label}: out of file descriptors (${error.code} in ${error.syscall ?? 'a call'}): new connections are refused until some are free\n`,
      );
    }
    fds.exhausted = true;
    fds.code = error.code ?? null;
    fds.lastAt = Date.now();
    fds.count++;
  }

  noteFdRecovered(): void {
    this.fds.exhausted = false;
  }

  private onConnection(peer: Peer): void {
    // A connection could be accepted: there are descriptors again.
    if (this.fds.exhausted) this.noteFdRecovered();
    let auth: AuthInfo | null = null;
    acceptHello(peer, {
      method: SERVICE_METHODS.hello,
      verifier: this.verifier,
      maxFailures: this.options.maxAuthFailures,
      preHelloFrameBytes: this.options.maxPreHelloFrameBytes,
      helloTimeoutMs: this.options.helloTimeoutMs,
      onTrusted: ({ client }) => {
        auth = typeof client === 'string' ? { client: client.slice(0, 200) } : {};
        return { service: this.name, instance: this.instance, pid: process.pid };
      },
    });
    // The peer's context is passed whole: its signal is only created if a handler asks for it.
    peer.onRequest(SERVICE_METHODS.call, (params, ctx) => this.call(params, auth, ctx));
    peer.onRequest(SERVICE_METHODS.metrics, (params) => {
      if (auth === null) throw new UnauthorizedError('metrics need a valid token');
      // Any other params (none, for most callers) mean the plain snapshot.
      const buckets = typeof params === 'object' && params !== null && (params as { buckets?: unknown }).buckets === true;
      return this.metrics.snapshot({ buckets });
    });
    peer.onRequest(SERVICE_METHODS.routes, () => {
      if (auth === null) throw new UnauthorizedError('routes need a valid token');
      return this.publishedRoutes();
    });
  }

  /** The routes as `warren.routes` answers them, computed once (on the first request). */
  private published: Promise<PublishedRoute[]> | undefined;

  /** The routes as `warren.routes` answers them (protocol §13.5), over a socket or NATS. */
  publishedRoutes(): Promise<PublishedRoute[]> {
    this.published ??= publishRoutes(this.definition.routes as ResolvedRoute<unknown>[]);
    return this.published;
  }

  /** One connection too many: its hello is answered with why, then it is closed; it never gets a call in. */
  private refuse(peer: Peer): void {
    peer.setReceiveLimit(this.options.maxPreHelloFrameBytes);
    const timer = setTimeout(() => peer.destroy(), this.options.helloTimeoutMs);
    timer.unref();
    peer.on('close', () => clearTimeout(timer));
    peer.onRequest(SERVICE_METHODS.hello, () => {
      setImmediate(() => void peer.close());
      throw overloaded(`${this.label} holds ${this.options.maxConnections} connections, its limit (maxConnections); try again later`);
    });
  }

  private readonly finished = () => {
    this.running--;
    if (this.running === 0) this.idle?.();
  };

  get isDraining(): boolean {
    return this.draining;
  }

  /** @internal Checks a Warren token (calls over NATS carry one each). */
  verifyToken(presented: string): boolean {
    return this.verifier.verify(presented);
  }

  // Not async: a synchronous handler's answer goes back without a promise of its own.
  /** @internal The entry of a call from any transport: the socket's warren.call, NATS. */
  call(params: unknown, auth: AuthInfo | null, cancel: { readonly signal: AbortSignal }): unknown {
    if (this.draining) {
      return encodeReply(errorResponse(503, 'WARREN_DRAINING', `${this.label} is shutting down; try another instance`));
    }
    const request = decodeCall(params);
    if (request === undefined) {
      return encodeReply(
        errorResponse(400, 'WARREN_BAD_URL', 'a call is [method, url, body?, headers?, requestId?] with string method and url'),
      );
    }
    this.running++;
    let response: ServiceResponse | Promise<ServiceResponse>;
    try {
      response = this.dispatcher.dispatch(request, auth, cancel, this.metrics);
    } catch (error) {
      this.finished();
      throw error;
    }
    if (response instanceof Promise) {
      return response.then(
        (done) => this.answer(done, request.requestId),
        (error: unknown) => {
          this.finished();
          throw error;
        },
      );
    }
    return this.answer(response, request.requestId);
  }

  /**
   * The encoded answer; a streamed body is a stream of items (protocol §13.2), and its call is
   * in progress (drain waits for it) until the stream is over.
   */
  private answer(response: ServiceResponse, requestId: string | undefined): unknown {
    if (!isStreamedBody(response.body)) {
      this.finished();
      return encodeReply(response);
    }
    return new StreamedAnswer(response, {
      done: this.finished,
      failure: (error) => {
        if (error instanceof ServiceError) return error;
        this.onInternalError?.(error, requestId ?? '(none)', '(streamed body)');
        return new ServiceError(500, 'WARREN_INTERNAL', `internal error in the streamed body (request ${requestId ?? 'without id'})`);
      },
    });
  }

  drain(): Promise<void> {
    if (this.drained) return this.drained;
    this.draining = true;
    void this.nats?.drain();
    // No new connection from now on, and the socket file goes: discovery drops this instance.
    this.allClosed = this.listener.stopListening();
    for (const peer of this.listener.peers) {
      if (peer.closed) continue;
      try {
        peer.notify(SERVICE_METHODS.goaway);
      } catch {
        // A peer that does not read (its queue is full) is closed after the grace period.
      }
    }
    this.drained =
      this.running === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            this.idle = resolve;
          });
    return this.drained;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.drain();
      await this.clientsGone();
      await this.listener.close();
      await this.nats?.close();
      await this.definition.onClose?.(this.deps);
    })();
    return this.closing;
  }

  destroy(): void {
    this.draining = true;
    this.nats?.destroy();
    void this.listener.stopListening();
    for (const peer of this.listener.peers) peer.destroy();
  }

  /** Resolves when the clients have closed every connection, or after closeGraceMs. */
  private async clientsGone(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.closeGraceMs);
    });
    try {
      await Promise.race([this.allClosed, grace]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Starts serving `definition`; resolves once it listens and onReady has run.
 * @example
 * const server = await serveService(users, { instance: 0 });
 */
export function serveService<D>(definition: ServiceDefinition<D>, options: ServeOptions = {}): Promise<ServiceServer<D>> {
  return ServiceInstance.start(definition, options);
}

/**
 * Makes the socket directory, the token and the dependencies, without listening: serve(n) then
 * listens as instance `n` (a supervisor's standby process learns its number only when it takes
 * over a slot).
 */
export function prepareService<D>(definition: ServiceDefinition<D>, options: ServeOptions = {}): Promise<PreparedService<D>> {
  return ServiceInstance.prepare(definition, options);
}
