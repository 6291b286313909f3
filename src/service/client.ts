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
 *
 * The connections to one instance are an InstancePool (instance-pool.ts); the options are
 * resolved once in client-options.ts. Nothing here loads the serving side (server, dispatcher).
 */
import { existsSync } from 'node:fs';
import { PeerClosedError, SocketDirError, UnavailableError, unknownService } from '../errors.js';
import type { Continuation } from '../peer/outgoing.js';
import type { Peer } from '../peer/peer.js';
import { isAsyncIterable } from '../util/guards.js';
import { readToken } from './auth.js';
import { decodeReply, encodeCall } from './call-format.js';
import {
  type CallLimits,
  deadlinePassed,
  errorMessage,
  failure,
  later,
  type PeerCallOptions,
  peerOptionsOf,
  sendAgainAfter,
  sendAgainAfterError,
  withDeadline,
} from './call-rules.js';
import { type CallOptions, type ClientOptions, type ResolvedClientOptions, resolveClientOptions } from './client-options.js';
import { type AnyRoute, bindContract, type ServiceContract, type TypedService } from './contract.js';
import type { ServiceResponse } from './define.js';
import { watchInstances } from './discovery.js';
import { type InstanceMetrics, withTimeout } from './instance-metrics.js';
import { InstancePool, type InstanceStats } from './instance-pool.js';
import type { MetricsSnapshot } from './metrics.js';
import { LazyNatsCaller } from './nats/lazy-caller.js';
import type { RemoteInstance } from './nats/types.js';
import { SERVICE_METHODS } from './protocol.js';
import type { PublishedRoute } from './published-routes.js';
import { errorResponse } from './response.js';
import { checkSocketDir, SOCKET_DIR_ENV } from './socket-dir.js';
import { openStreamedReply } from './streamed.js';

export type { CallOptions, ClientOptions } from './client-options.js';
export type { InstanceMetrics } from './instance-metrics.js';
export type { InstanceStats } from './instance-pool.js';
export type { RemoteInstance } from './nats/types.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

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
    const every = client.options.healthCheckIntervalMs;
    if (every > 0) {
      this.healthTimer = setInterval(() => {
        for (const pool of this.poolList) pool.healthCheck();
      }, every);
      this.healthTimer.unref();
    }
  }

  private healthTimer: NodeJS.Timeout | undefined;

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
    let limits: CallLimits | undefined;
    if (options === undefined) {
      call = encodeCall(method, url, body);
    } else {
      call = encodeCall(method, url, body, options.headers, options.requestId);
      peerOptions = peerOptionsOf(options);
      if (options.idempotent !== undefined) idempotent = options.idempotent;
      if (options.deadline !== undefined || options.classifyFailures === true) {
        limits = {
          deadline: options.deadline ?? Number.POSITIVE_INFINITY,
          timeoutMs: peerOptions?.timeout ?? this.client.options.timeoutMs,
          classify: options.classifyFailures === true,
        };
        peerOptions = withDeadline(peerOptions, limits);
      }
    }
    // The common case without waiting: discovery done, and the chosen instance has a
    // connection that is open and not too busy.
    if (this.discovered) {
      const pool = this.pick(undefined);
      if (pool !== undefined) {
        const peer = pool.idle();
        if (peer !== undefined) return this.sendOn(peer, pool, call, peerOptions, idempotent, limits);
        // No open connection to the instance chosen: the general path connects to it. Choosing
        // again there would pass it by (the ties go round), and an instance whose connection was
        // lost would be passed by on every call while another one has a connection.
        return this.attempts(call, peerOptions, idempotent, 2, limits, undefined, undefined, undefined, pool);
      }
      // None here can take it (none, or all draining): another host can, over NATS.
      if (this.client.nats) return this.client.nats.call(this.name, call, peerOptions);
    }
    return this.attempts(call, peerOptions, idempotent, 2, limits);
  }

  /** One call on a chosen connection; its answer is read by a SentCall (below). */
  private sendOn(
    peer: Peer,
    pool: InstancePool,
    call: unknown[],
    peerOptions: PeerCallOptions | undefined,
    idempotent: boolean,
    limits: CallLimits | undefined,
  ): Promise<ServiceResponse> {
    const sent = new SentCall(this, pool, call, peerOptions, idempotent, limits);
    return peer.requestWith(SERVICE_METHODS.call, call, peerOptions, sent) as Promise<ServiceResponse>;
  }

  /**
   * The general path: waits for discovery and connections, and sends again when it is safe.
   * @internal (SentCall sends again through it)
   */
  async attempts(
    call: unknown[],
    peerOptions: PeerCallOptions | undefined,
    idempotent: boolean,
    left: number,
    limits?: CallLimits,
    tried?: InstancePool,
    lastResponse?: ServiceResponse,
    lastError?: unknown,
    /** Chosen already by pick() (its inFlight counted): the first attempt goes to it. */
    chosen?: InstancePool,
  ): Promise<ServiceResponse> {
    /** The last failure happened before the call was written (a connect, or an instance going away). */
    let unsent = false;
    for (; left > 0; left--) {
      if (!this.discovered) await this.watcher.ready;
      let pool = chosen ?? this.pick(tried);
      chosen = undefined;
      if (pool === undefined) {
        // An instance that started a moment ago may not be seen yet (the watcher rescans shortly
        // after a change, for instance while the one it replaces drains): look once more.
        await this.watcher.refresh();
        pool = this.pick(tried);
      }
      if (pool === undefined) {
        if (this.client.nats) return this.client.nats.call(this.name, call, peerOptions);
        if (tried === undefined) return this.noInstance();
        break;
      }
      tried = pool;
      try {
        if (limits !== undefined) {
          // Each attempt gets what is left of the call's deadline, and none starts after it.
          if (Date.now() >= limits.deadline) throw deadlinePassed(limits);
          peerOptions = withDeadline(peerOptions, limits);
        }
        let peer: Peer;
        try {
          peer = pool.idle() ?? (await pool.acquire());
          // Told to go away while this call waited for it: nothing was sent on it.
          if (peer.closed) throw new PeerClosedError(`${this.name}.${pool.instance.instance} is going away`);
        } catch (error) {
          // Nothing was sent: any call may go to another instance.
          lastError = error;
          unsent = true;
          continue;
        }
        let result: unknown;
        try {
          result = await peer.request(SERVICE_METHODS.call, call, peerOptions);
        } catch (error) {
          if (sendAgainAfterError(error, idempotent)) {
            lastError = error;
            unsent = false;
            continue;
          }
          return failure(error);
        }
        // A streamed answer: never sent again, once it started.
        if (isAsyncIterable(result)) return await openStreamedReply(result);
        const response = decodeReply(result);
        if (sendAgainAfter(response)) {
          lastResponse = response;
          continue;
        }
        return response;
      } finally {
        pool.inFlight--;
      }
    }
    // Every instance here is down or draining, and the call did not run: another host can take it.
    if (this.client.nats) return this.client.nats.call(this.name, call, peerOptions);
    if (lastResponse) return lastResponse;
    if (unsent && limits?.classify) {
      throw new UnavailableError(`no instance of service '${this.name}' could take the call: ${errorMessage(lastError)}`, {
        cause: lastError,
      });
    }
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
    // An instance marked down is only worth a try when no other host can take the call (over NATS).
    const chosen = best ?? (this.client.nats ? undefined : fallback);
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
    throw unknownService(`no instance of service '${this.name}' in ${dir}`);
  }

  /**
   * The routes one instance publishes (`warren.routes`, docs/protocol.md §13.5), asked over this
   * handle's connections to it. `path` is the instance's socket, as discovery reports it.
   */
  async instanceRoutes(path: string): Promise<PublishedRoute[]> {
    return (await this.askInstance(path, SERVICE_METHODS.routes)) as PublishedRoute[];
  }

  /**
   * The counters of every instance found (`warren.metrics`, docs/protocol.md §13.3), each with its
   * snapshot or the error that kept it from answering within `timeoutMs` (default: the client's
   * timeout). `buckets` asks for the latency histogram's buckets too (the §13.3 extension).
   */
  async instanceMetrics(options: { timeoutMs?: number; buckets?: boolean } = {}): Promise<InstanceMetrics[]> {
    if (!this.discovered) await this.watcher.ready;
    const pools = [...this.pools.values()];
    const timeoutMs = options.timeoutMs ?? this.client.options.timeoutMs;
    const params = options.buckets === true ? { buckets: true } : undefined;
    const answers = await Promise.allSettled(
      pools.map((pool) =>
        withTimeout(this.askInstance(pool.instance.path, SERVICE_METHODS.metrics, params, timeoutMs), timeoutMs, SERVICE_METHODS.metrics),
      ),
    );
    return answers.map((answer, i) => {
      const { instance, path } = (pools[i] as InstancePool).instance;
      return answer.status === 'fulfilled'
        ? { instance, path, snapshot: answer.value as MetricsSnapshot }
        : { instance, path, error: answer.reason instanceof Error ? answer.reason : new Error(String(answer.reason)) };
    });
  }

  private async askInstance(path: string, method: string, params?: unknown, timeoutMs?: number): Promise<unknown> {
    if (!this.discovered) await this.watcher.ready;
    let pool = this.pools.get(path);
    if (pool === undefined) {
      await this.watcher.refresh();
      pool = this.pools.get(path);
    }
    if (pool === undefined) throw new UnavailableError(`instance ${path} of service '${this.name}' is not (or no longer) listed`);
    const peer = pool.idle() ?? (await pool.acquire());
    return peer.request(method, params, { timeout: timeoutMs ?? this.client.options.timeoutMs });
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
    clearInterval(this.healthTimer);
    this.watcher.close();
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
    this.poolList = [];
  }
}

/**
 * The answer of one call sent on a chosen connection, as the peer's continuation: one object per
 * call instead of two closures and their context. A draining instance or a lost connection sends
 * the call again when safe (call-rules.ts).
 */
class SentCall implements Continuation {
  constructor(
    private readonly handle: ServiceHandle,
    private readonly pool: InstancePool,
    private readonly call: unknown[],
    private readonly peerOptions: PeerCallOptions | undefined,
    private readonly idempotent: boolean,
    private readonly limits: CallLimits | undefined,
  ) {}

  onValue(result: unknown): ServiceResponse | Promise<ServiceResponse> {
    this.pool.inFlight--;
    // A streamed answer: never sent again, once it started.
    if (isAsyncIterable(result)) return openStreamedReply(result);
    const response = decodeReply(result);
    // A draining instance did not run the call: another one may, whatever the method.
    if (sendAgainAfter(response)) {
      return later(() => this.handle.attempts(this.call, this.peerOptions, this.idempotent, 1, this.limits, this.pool, response));
    }
    return response;
  }

  onError(error: Error): ServiceResponse | Promise<ServiceResponse> {
    this.pool.inFlight--;
    // The connection failed before an answer: the call may have run, so only idempotent ones are sent again.
    if (sendAgainAfterError(error, this.idempotent)) {
      return later(() => this.handle.attempts(this.call, this.peerOptions, this.idempotent, 1, this.limits, this.pool, undefined, error));
    }
    return failure(error);
  }
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
  /** @internal Calls to other hosts, with the nats transport (nats/). */
  readonly nats: LazyNatsCaller | undefined;

  constructor(options: ClientOptions = {}) {
    this.options = resolveClientOptions(options);
    if (this.options.nats) {
      this.nats = new LazyNatsCaller(this.options.nats, {
        name: this.options.name,
        token: () => this.token(),
        timeoutMs: this.options.timeoutMs,
      });
    }
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

  /**
   * The instances on other hosts, as NATS knows them (`$SRV.PING`, gathered for `waitMs`): with the
   * nats transport only; none without it or while NATS is down. Instances on this host answer too.
   */
  remoteInstances(waitMs = 250): Promise<RemoteInstance[]> {
    return this.nats?.instances(waitMs) ?? Promise.resolve([]);
  }

  /** The routes of one instance found by remoteInstances() (protocol §15.7). */
  remoteRoutes(instance: { service: string; id: string }, timeoutMs = this.options.connectTimeoutMs): Promise<PublishedRoute[]> {
    if (this.nats === undefined)
      return Promise.reject(unknownService(`service '${instance.service}' is not on this host and the transport is not nats`));
    return this.nats.routesOf(instance, timeoutMs);
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
    void this.nats?.close();
  }
}
