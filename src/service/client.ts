/**
 * Calls services by name. `client.service('users')` finds every instance's socket in the
 * socket directory (and watches it), keeps a small pool of authenticated, multiplexed
 * connections per instance, sends each call to the instance with the fewest calls in flight,
 * marks an instance that refuses connections down for a while, and retries a call once on
 * another instance when it is safe: an idempotent call whose connection failed before an
 * answer, or any call an instance refused because it was draining.
 *
 * An instance that shuts down says `warren.goaway` on each connection: that connection takes no
 * new calls and is closed by the client once its calls are answered, and the instance gets no
 * new calls; so no call is written to a connection the instance is about to close.
 */
import { existsSync } from 'node:fs';
import { isWarrenError, RemoteError, SocketDirError, WarrenError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { connectUnix } from '../peer/transports/socket.js';
import { readToken } from './auth.js';
import { decodeReply, encodeCall } from './call-format.js';
import { type AnyRoute, bindContract, type ServiceContract, type TypedService } from './contract.js';
import type { ServiceResponse } from './define.js';
import { type Instance, watchInstances } from './discovery.js';
import { errorResponse } from './dispatch.js';
import { SERVICE_METHODS } from './server.js';
import { checkSocketDir, resolveSocketDir, SOCKET_DIR_ENV } from './socket-dir.js';

export interface ClientOptions {
  /** Socket directory (default: as for serveService). */
  socketDir?: string;
  /** The socket directory and token are shared with a group. */
  group?: boolean;
  /** Give up connecting to an instance after this many ms (2 s). */
  connectTimeout?: number;
  /** Default call timeout in ms (30 s). */
  timeout?: number;
  /** Connections opened per instance as soon as it is found and kept (1), and at most when they are busy (4). */
  minConnections?: number;
  maxConnections?: number;
  /** How long an instance that refused a connection is skipped (1 s). */
  downForMs?: number;
  /** This client's name in the services' logs. */
  name?: string;
}

interface ResolvedClientOptions {
  socketDir: string;
  group: boolean;
  connectTimeout: number;
  timeout: number;
  minConnections: number;
  maxConnections: number;
  downForMs: number;
  name: string;
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  timeout?: number;
  signal?: AbortSignal;
  /** Safe to send twice (GET, HEAD, PUT, DELETE are by default). */
  idempotent?: boolean;
}

const GROW_AT_PENDING = 128;
/** A connection told to go away waits for its calls however long they take (their own timeouts end them): the largest timer. */
const UNTIL_ANSWERED = 2 ** 31 - 1;
/** Backoff between connects refused by a full accept queue: from 5 ms, doubling, at most 100 ms. */
const CONNECT_RETRY_FIRST_MS = 5;
const CONNECT_RETRY_MAX_MS = 100;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!(Number.isFinite(v) && v > 0))
      throw new WarrenError('WARREN_INVALID_ARGUMENT', `option '${name}' must be a positive number, got ${v}`);
    return v;
  };
  const resolved = {
    socketDir: resolveSocketDir(options.socketDir),
    group: options.group ?? false,
    connectTimeout: positive('connectTimeout', options.connectTimeout, 2_000),
    timeout: positive('timeout', options.timeout, 30_000),
    minConnections: positive('minConnections', options.minConnections, 1),
    maxConnections: positive('maxConnections', options.maxConnections, 4),
    downForMs: positive('downForMs', options.downForMs, 1_000),
    name: options.name ?? `pid-${process.pid}`,
  };
  if (resolved.minConnections > resolved.maxConnections) {
    throw new WarrenError(
      'WARREN_INVALID_ARGUMENT',
      `minConnections (${resolved.minConnections}) is more than maxConnections (${resolved.maxConnections})`,
    );
  }
  return Object.freeze(resolved);
}

/** The connections to one instance. */
class InstancePool {
  readonly peers: Peer[] = [];
  private connecting = 0;
  private closed = false;
  downUntil = 0;
  /** The instance said warren.goaway and some of its connections are still open: no new calls go to it. */
  draining = false;

  constructor(
    readonly instance: Instance,
    private readonly client: ServiceClient,
  ) {}

  /**
   * Calls assigned to this instance and not finished. Counted from the moment of choice, not
   * from the write, so that a burst of calls made in one tick spreads over the instances.
   */
  inFlight = 0;

  /** A live connection that is not too busy, without waiting; undefined when one must be opened. */
  idle(): Peer | undefined {
    let best: Peer | undefined;
    for (const peer of this.peers) if (!peer.closed && (best === undefined || peer.pendingCount < best.pendingCount)) best = peer;
    return best !== undefined && best.pendingCount < GROW_AT_PENDING ? best : undefined;
  }

  /**
   * A connection for one call: an idle one, else a new one while under the limit, else the
   * least busy. With no connection yet, a call waits for the one being opened (warm() opens one
   * as soon as the instance is found) rather than opening another: a second connection halves
   * the batches on each, which costs more than it brings (bench/service).
   */
  async acquire(): Promise<Peer> {
    let best: Peer | undefined;
    for (const peer of this.peers) if (!peer.closed && (best === undefined || peer.pendingCount < best.pendingCount)) best = peer;
    const opts = this.client.options;
    const canGrow = this.peers.length + this.connecting < opts.maxConnections;
    // One multiplexed connection carries many calls; another is only worth its cost (smaller
    // batches on each) once the busiest has many calls waiting.
    if (best && (best.pendingCount < GROW_AT_PENDING || !canGrow)) return best;
    if (best && canGrow) {
      // Busy: grow the pool in the background and use what we have now.
      void this.open().catch(() => {});
      return best;
    }
    if (this.opening !== undefined) return this.opening;
    return this.open();
  }

  /** The connection being opened most recently, while it is being opened. */
  private opening: Promise<Peer> | undefined;

  /**
   * Opens connections in the background up to minConnections, so that the first calls do not
   * wait for a connect and a hello. A failure only marks the instance down; calls report it.
   */
  warm(): void {
    if (this.draining) return;
    const missing = this.client.options.minConnections - this.peers.length - this.connecting;
    for (let i = 0; i < missing && !this.closed; i++) void this.open().catch(() => {});
  }

  private open(): Promise<Peer> {
    const opening = this.connect();
    this.opening = opening;
    const forget = () => {
      if (this.opening === opening) this.opening = undefined;
    };
    opening.then(forget, forget);
    return opening;
  }

  private async connect(): Promise<Peer> {
    this.connecting++;
    try {
      const opts = this.client.options;
      const peer = await this.connectRetrying();
      // Before the hello: an instance that drains may say goaway before it answers it.
      peer.onNotify(SERVICE_METHODS.goaway, () => this.goAway(peer));
      try {
        await peer.request(SERVICE_METHODS.hello, { token: await this.client.token(), client: opts.name });
      } catch (error) {
        peer.destroy();
        throw error;
      }
      // Closed here: the pool was closed, or the instance said goaway during the hello.
      if (this.closed || peer.closed) {
        peer.destroy();
        throw new WarrenError('WARREN_PEER_CLOSED', `${this.instance.service}.${this.instance.instance} went away while connecting`);
      }
      this.peers.push(peer);
      peer.on('close', () => {
        const at = this.peers.indexOf(peer);
        if (at >= 0) this.peers.splice(at, 1);
        if (this.closed) return;
        if (this.draining) {
          this.drainedIfIdle();
          return;
        }
        // A connection lost while the instance is still listed is replaced, once: if the new
        // connect fails the instance is marked down and nothing loops.
        this.warm();
      });
      return peer;
    } catch (error) {
      this.downUntil = Date.now() + this.client.options.downForMs;
      throw error;
    } finally {
      this.connecting--;
      if (this.draining) this.drainedIfIdle();
    }
  }

  /**
   * Connects, trying again with a short growing backoff while the instance's accept queue is
   * full (EAGAIN, in a burst of connects) or its socket refuses (ECONNREFUSED) but still exists
   * (an instance restarting on the same path), within connectTimeout. Anything else fails at once.
   */
  private async connectRetrying(): Promise<Peer> {
    const opts = this.client.options;
    const path = this.instance.path;
    const deadline = Date.now() + opts.connectTimeout;
    for (let attempt = 0; ; attempt++) {
      try {
        return await connectUnix(path, {
          connectTimeout: Math.max(1, deadline - Date.now()),
          timeout: opts.timeout,
          name: `${this.instance.service}.${this.instance.instance}`,
        });
      } catch (error) {
        // Jittered, so that the callers of a burst do not come back all at once.
        const wait = Math.min(CONNECT_RETRY_MAX_MS, CONNECT_RETRY_FIRST_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
        if (this.closed || !isRefusedConnect(error) || Date.now() + wait >= deadline || !existsSync(path)) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /**
   * The last connection of a draining instance is done. The watcher drops the instance once its
   * socket is gone; should another process listen on the same path by then, it is tried again
   * after downForMs like any instance that was down.
   */
  private drainedIfIdle(): void {
    if (this.peers.length > 0 || this.connecting > 0) return;
    this.draining = false;
    this.downUntil = Date.now() + this.client.options.downForMs;
  }

  /**
   * The instance is draining: this connection takes no new calls (a closing peer is skipped by
   * idle() and acquire()) and ends once its calls are answered; the instance gets no new calls.
   */
  private goAway(peer: Peer): void {
    this.draining = true;
    void peer.close({ timeout: UNTIL_ANSWERED });
  }

  /** What this pool holds, for stats(). */
  describe(now: number): InstanceStats {
    return {
      instance: this.instance.instance,
      path: this.instance.path,
      connections: this.peers.length,
      inFlight: this.inFlight,
      down: this.downUntil > now,
      draining: this.draining,
    };
  }

  /**
   * Closes the connections gracefully: each takes no new calls and ends once its calls are
   * answered, within the peer's closeTimeout, or however long they take with `untilAnswered`
   * (an instance that went away: it decides when its connections end).
   */
  close(untilAnswered = false): void {
    this.closed = true;
    const options = untilAnswered ? { timeout: UNTIL_ANSWERED } : undefined;
    for (const peer of this.peers.splice(0)) void peer.close(options);
  }
}

/** One instance as a ServiceHandle sees it. */
export interface InstanceStats {
  instance: number;
  path: string;
  /** Open, authenticated connections. */
  connections: number;
  /** Calls sent to it and not finished. */
  inFlight: number;
  /** Refused a connection recently: skipped while another instance is up. */
  down: boolean;
  /** Said warren.goaway and still has connections with calls on them: gets no new calls. */
  draining: boolean;
}

/** Calls to one service by name; made by ServiceClient.service(). */
export class ServiceHandle {
  private readonly pools = new Map<string, InstancePool>();
  /** The values of `pools`, as an array: pick() walks it on every call. */
  private poolList: InstancePool[] = [];
  private readonly watcher;
  /** The socket directory could not be read on the last scan (cleared by a good one). */
  private watchError: Error | undefined;
  /** The first scan is done: calls need not wait for it. */
  private discovered = false;
  /** Where pick() starts looking (modulo the instance count): ties go round. */
  private rotation = 0;

  constructor(
    readonly name: string,
    private readonly client: ServiceClient,
  ) {
    this.watcher = watchInstances(client.options.socketDir, name, {
      onAdd: (instance) => {
        this.watchError = undefined;
        const pool = new InstancePool(instance, client);
        this.pools.set(instance.path, pool);
        this.poolList = [...this.pools.values()];
        pool.warm();
      },
      onRemove: (instance) => {
        // Its socket is gone: the calls already sent to it are still answered.
        this.pools.get(instance.path)?.close(true);
        this.pools.delete(instance.path);
        this.poolList = [...this.pools.values()];
      },
      onError: (error) => {
        this.watchError = error;
      },
    });
    void this.watcher.ready.then(() => {
      this.discovered = true;
    });
  }

  // The verbs pass their method and its idempotence as constants: no toUpperCase(), no Set
  // lookup and no options object made to carry the body, on every call.
  get(url: string, options?: Omit<CallOptions, 'body'>): Promise<ServiceResponse> {
    return this.send('GET', url, undefined, options, true);
  }
  head(url: string, options?: Omit<CallOptions, 'body'>): Promise<ServiceResponse> {
    return this.send('HEAD', url, undefined, options, true);
  }
  delete(url: string, options?: Omit<CallOptions, 'body'>): Promise<ServiceResponse> {
    return this.send('DELETE', url, undefined, options, true);
  }
  post(url: string, body?: unknown, options?: Omit<CallOptions, 'body'>): Promise<ServiceResponse> {
    return this.send('POST', url, body, options, false);
  }
  put(url: string, body?: unknown, options?: Omit<CallOptions, 'body'>): Promise<ServiceResponse> {
    return this.send('PUT', url, body, options, true);
  }
  patch(url: string, body?: unknown, options?: Omit<CallOptions, 'body'>): Promise<ServiceResponse> {
    return this.send('PATCH', url, body, options, false);
  }

  /** Sends one call; resolves with the service's response whatever its status. */
  request(method: string, url: string, options?: CallOptions): Promise<ServiceResponse> {
    const upper = method.toUpperCase();
    return this.send(upper, url, options?.body, options, IDEMPOTENT.has(upper));
  }

  /** `method` is uppercase; `safe` says whether it is idempotent unless options say otherwise. */
  private send(
    method: string,
    url: string,
    body: unknown,
    options: Omit<CallOptions, 'body'> | undefined,
    safe: boolean,
  ): Promise<ServiceResponse> {
    let call: unknown[];
    let peerOptions: PeerCallOptions | undefined;
    let idempotent = safe;
    if (options === undefined) {
      call = encodeCall(method, url, body);
    } else {
      call = encodeCall(method, url, body, options.headers);
      peerOptions = peerOptionsOf(options);
      if (options.idempotent !== undefined) idempotent = options.idempotent;
    }
    // The common case without waiting: discovery done, and the chosen instance has a
    // connection that is open and not too busy.
    if (this.discovered) {
      const pool = this.pick(undefined);
      if (pool !== undefined) {
        const peer = pool.idle();
        if (peer !== undefined) return this.sendOn(peer, pool, call, peerOptions, idempotent);
        pool.inFlight--;
      }
    }
    return this.attempts(call, peerOptions, idempotent, 2);
  }

  /**
   * One call on a chosen connection; a draining instance or a lost connection sends it again
   * when safe. Not async: a then() with two closures costs less than an async function here.
   */
  private sendOn(
    peer: Peer,
    pool: InstancePool,
    call: unknown[],
    peerOptions: PeerCallOptions | undefined,
    idempotent: boolean,
  ): Promise<ServiceResponse> {
    return peer.request(SERVICE_METHODS.call, call, peerOptions).then(
      (result) => {
        pool.inFlight--;
        const response = decodeReply(result);
        // A draining instance did not run the call: another one may, whatever the method.
        if (response.status === 503 && isDraining(response)) return this.attempts(call, peerOptions, idempotent, 1, pool, response);
        return response;
      },
      (error: unknown) => {
        pool.inFlight--;
        // The connection failed before an answer: the call may have run, so only idempotent ones are sent again.
        if (idempotent && isPeerClosed(error)) return this.attempts(call, peerOptions, idempotent, 1, pool, undefined, error);
        return failure(error);
      },
    );
  }

  /** The general path: waits for discovery and connections, and sends again when it is safe. */
  private async attempts(
    call: unknown[],
    peerOptions: PeerCallOptions | undefined,
    idempotent: boolean,
    left: number,
    tried?: InstancePool,
    lastResponse?: ServiceResponse,
    lastError?: unknown,
  ): Promise<ServiceResponse> {
    for (; left > 0; left--) {
      if (!this.discovered) await this.watcher.ready;
      let pool = this.pick(tried);
      if (pool === undefined) {
        // An instance that started a moment ago may not be seen yet (the watcher rescans shortly
        // after a change, for instance while the one it replaces drains): look once more.
        await this.watcher.refresh();
        pool = this.pick(tried);
      }
      if (pool === undefined) {
        if (tried === undefined) return this.noInstance();
        break;
      }
      tried = pool;
      try {
        let peer: Peer;
        try {
          peer = pool.idle() ?? (await pool.acquire());
          // Told to go away while this call waited for it: nothing was sent on it.
          if (peer.closed) throw new WarrenError('WARREN_PEER_CLOSED', `${this.name}.${pool.instance.instance} is going away`);
        } catch (error) {
          // Nothing was sent: any call may go to another instance.
          lastError = error;
          continue;
        }
        let response: ServiceResponse;
        try {
          response = decodeReply(await peer.request(SERVICE_METHODS.call, call, peerOptions));
        } catch (error) {
          if (idempotent && isPeerClosed(error)) {
            lastError = error;
            continue;
          }
          return failure(error);
        }
        if (response.status === 503 && isDraining(response)) {
          lastResponse = response;
          continue;
        }
        return response;
      } finally {
        pool.inFlight--;
      }
    }
    if (lastResponse) return lastResponse;
    throw lastError;
  }

  /**
   * The live instance with the fewest calls in flight, not tried yet for this call and not
   * draining; its inFlight is incremented (the caller decrements). Undefined when there is none.
   */
  private pick(tried: InstancePool | undefined): InstancePool | undefined {
    // The clock is only read when some instance was marked down: most calls never need it.
    let now = 0;
    let best: InstancePool | undefined;
    let fallback: InstancePool | undefined;
    // Each call starts looking one instance further on: among instances equally busy (idle ones,
    // when calls come one at a time) the calls go round, instead of all to the first.
    const list = this.poolList;
    const count = list.length;
    const start = count > 1 ? this.rotation++ % count : 0;
    for (let i = 0; i < count; i++) {
      const pool = list[start + i < count ? start + i : start + i - count] as InstancePool;
      if (pool === tried || pool.draining) continue;
      if (pool.downUntil !== 0) {
        if (now === 0) now = Date.now();
        if (pool.downUntil > now) {
          fallback ??= pool;
          continue;
        }
      }
      if (best === undefined || pool.inFlight < best.inFlight) best = pool;
    }
    const chosen = best ?? fallback;
    // Counted here, in the same turn as the choice: the next call of a burst sees it.
    if (chosen) chosen.inFlight++;
    return chosen;
  }

  /**
   * Why there is nothing to call: every instance is draining (503, as each of them would
   * answer), or the directory cannot be read, does not exist, or holds no instance of this service.
   */
  private noInstance(): ServiceResponse {
    for (const pool of this.pools.values()) {
      if (pool.draining) {
        return errorResponse(503, 'WARREN_DRAINING', `every instance of service '${this.name}' is shutting down; try again shortly`);
      }
    }
    const dir = this.client.options.socketDir;
    if (this.watchError !== undefined) throw this.watchError;
    if (!existsSync(dir)) {
      throw new SocketDirError(
        dir,
        `socket directory ${dir} does not exist: no service has started there (check socketDir or ${SOCKET_DIR_ENV})`,
      );
    }
    throw new WarrenError('WARREN_UNKNOWN_SERVICE', `no instance of service '${this.name}' in ${dir}`);
  }

  /** The instances found so far, with their connections and calls in flight. */
  stats(): InstanceStats[] {
    const now = Date.now();
    return [...this.pools.values()].map((pool) => pool.describe(now)).sort((a, b) => a.instance - b.instance);
  }

  /** Resolves once the first scan of the socket directory is done. */
  get ready(): Promise<void> {
    return this.watcher.ready;
  }

  close(): void {
    this.watcher.close();
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
    this.poolList = [];
  }
}

type PeerCallOptions = { timeout?: number; signal?: AbortSignal };

/** Only what the peer needs: most calls carry neither a timeout nor a signal. */
function peerOptionsOf(options: CallOptions): PeerCallOptions | undefined {
  if (options.timeout === undefined && options.signal === undefined) return undefined;
  const peerOptions: PeerCallOptions = {};
  if (options.timeout !== undefined) peerOptions.timeout = options.timeout;
  if (options.signal !== undefined) peerOptions.signal = options.signal;
  return peerOptions;
}

/** A connect that failed because the listener could not take it now (its queue was full, or it was restarting). */
function isRefusedConnect(error: unknown): boolean {
  const code = ((error as { cause?: NodeJS.ErrnoException } | null)?.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAGAIN' || code === 'ECONNREFUSED';
}

function isPeerClosed(error: unknown): boolean {
  return isWarrenError(error) && error.code === 'WARREN_PEER_CLOSED';
}

/** A failed call as the caller sees it: a response when the failure has an HTTP meaning, else the error. */
function failure(error: unknown): ServiceResponse {
  const mapped = statusFor(error);
  if (mapped) return mapped;
  throw error;
}

/**
 * Failures that have an HTTP meaning become responses: a request too large to send is 413;
 * an answer the service could not encode (a function, a result over the size limit) is 500.
 */
function statusFor(error: unknown): ServiceResponse | undefined {
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

function isDraining(response: ServiceResponse): boolean {
  const body = response.body as { error?: { code?: unknown } } | null;
  return body?.error?.code === 'WARREN_DRAINING';
}

/**
 * @example
 * const client = new ServiceClient();
 * const res = await client.service('users').get('/users/42');   // { status: 200, headers, body }
 */
export class ServiceClient {
  readonly options: ResolvedClientOptions;
  private readonly handles = new Map<string, ServiceHandle>();
  private tokenPromise: Promise<string> | undefined;

  constructor(options: ClientOptions = {}) {
    this.options = resolveClientOptions(options);
  }

  /** Calls to a service by name, or typed functions for the routes of a contract (see contract.ts). */
  service(name: string): ServiceHandle;
  service<Routes extends Record<string, AnyRoute>>(contract: ServiceContract<Routes>): TypedService<Routes>;
  service<Routes extends Record<string, AnyRoute>>(target: string | ServiceContract<Routes>): ServiceHandle | TypedService<Routes> {
    if (typeof target !== 'string') return bindContract(this.handle(target.service), target);
    return this.handle(target);
  }

  private handle(name: string): ServiceHandle {
    let handle = this.handles.get(name);
    if (!handle) {
      handle = new ServiceHandle(name, this);
      this.handles.set(name, handle);
    }
    return handle;
  }

  /** @internal the shared token, read once */
  token(): Promise<string> {
    this.tokenPromise ??= checkSocketDir(this.options.socketDir, { group: this.options.group }).then((dir) =>
      readToken(dir, { group: this.options.group }),
    );
    return this.tokenPromise;
  }

  close(): void {
    for (const handle of this.handles.values()) handle.close();
    this.handles.clear();
  }
}
