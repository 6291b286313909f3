/**
 * The connections to one instance of a service: opened ahead of the first call (warm), grown
 * while busy, replaced when lost, marked down for a while when the instance refuses them,
 * and closed once the calls on them are answered when the instance says warren.goaway.
 */
import { existsSync } from 'node:fs';
import { PeerClosedError } from '../errors.js';
import type { Peer } from '../peer/peer.js';
import { connectUnix } from '../peer/transports/socket.js';
import { doublingDelay, jittered } from '../util/backoff.js';
import type { ResolvedClientOptions } from './client-options.js';
import type { Instance } from './discovery.js';
import { SERVICE_METHODS } from './protocol.js';

/** What a pool needs of its client: the resolved options and the shared token. */
export interface PoolOwner {
  readonly options: ResolvedClientOptions;
  token(): Promise<string>;
}

const GROW_AT_PENDING = 128;
/** A connection told to go away waits for its calls however long they take (their own timeouts end them): the largest timer. */
export const UNTIL_ANSWERED = 2 ** 31 - 1;
/** Backoff between connects refused by a full accept queue (EAGAIN): from 5 ms, doubling, at most 100 ms. */
const CONNECT_RETRY_FIRST_MS = 5;
const CONNECT_RETRY_MAX_MS = 100;
/**
 * Backoff between connects refused because nothing listens yet (ECONNREFUSED, an instance
 * restarting on the same path): from 2 ms, doubling, at most 20 ms. A refused connect costs the
 * instance nothing, and a standby takes over a crashed slot within some 10 ms: a longer wait
 * would be most of the time a call takes to be answered again.
 */
const REFUSED_RETRY_FIRST_MS = 2;
const REFUSED_RETRY_MAX_MS = 20;

/** The connections to one instance. */
export class InstancePool {
  readonly peers: Peer[] = [];
  private connecting = 0;
  private closed = false;
  downUntil = 0;
  /** The instance said warren.goaway and some of its connections are still open: no new calls go to it. */
  draining = false;

  constructor(
    readonly instance: Instance,
    private readonly client: PoolOwner,
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
        throw new PeerClosedError(`${this.instance.service}.${this.instance.instance} went away while connecting`);
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
    const deadline = Date.now() + opts.connectTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await connectUnix(path, {
          connectTimeout: Math.max(1, deadline - Date.now()),
          timeout: opts.timeoutMs,
          batchWrites: opts.batchWrites,
          name: `${this.instance.service}.${this.instance.instance}`,
        });
      } catch (error) {
        const code = refusedCode(error);
        const wait = jittered(
          code === 'ECONNREFUSED'
            ? doublingDelay(attempt, REFUSED_RETRY_FIRST_MS, REFUSED_RETRY_MAX_MS)
            : doublingDelay(attempt, CONNECT_RETRY_FIRST_MS, CONNECT_RETRY_MAX_MS),
        );
        if (this.closed || code === undefined || Date.now() + wait >= deadline || !existsSync(path)) throw error;
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

  /**
   * A health check: each open connection must answer `warren.metrics` within connectTimeoutMs, or
   * it is dropped (its close handler opens another); with no connection, one is opened.
   */
  healthCheck(): void {
    if (this.closed || this.draining) return;
    const timeout = this.client.options.connectTimeoutMs;
    for (const peer of this.peers) {
      if (peer.closed) continue;
      peer.request(SERVICE_METHODS.metrics, undefined, { timeout }).catch(() => peer.destroy());
    }
    if (this.peers.length === 0) this.warm();
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

/** Why a connect failed when the listener could not take it now: its queue was full (EAGAIN), or it was restarting (ECONNREFUSED). */
function refusedCode(error: unknown): 'EAGAIN' | 'ECONNREFUSED' | undefined {
  const code = ((error as { cause?: NodeJS.ErrnoException } | null)?.cause as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAGAIN' || code === 'ECONNREFUSED' ? code : undefined;
}
