/**
 * A pool of child processes, each a ChildPeer. Requests go to the least busy child. A child
 * that dies is replaced; the requests it was running are rejected with WARREN_PEER_CLOSED, or
 * sent once more to another child when the caller marked them idempotent.
 */
import { EventEmitter } from 'node:events';
import { invalidArgument, isWarrenError, PeerClosedError, TimeoutError } from '../errors.js';
import type { RequestOptions } from './peer.js';
import { type ChildExit, type ChildPeer, type SpawnPeerOptions, spawnPeer } from './transports/child.js';

export interface PoolOptions extends SpawnPeerOptions {
  /** Called with every new child, e.g. to register handlers for requests the child makes. */
  onWorker?: (worker: ChildPeer) => void;
  /** First delay before replacing a dead child (100 ms); doubles while children keep dying young, up to 5 s. */
  respawnDelay?: number;
}

export interface PoolRequestOptions extends RequestOptions {
  /** Safe to run twice: retried once on another child if its child dies before answering. */
  idempotent?: boolean;
}

export interface PoolEvents {
  spawn: [worker: ChildPeer];
  exit: [worker: ChildPeer, exit: ChildExit];
  error: [error: Error];
}

const STABLE_AFTER_MS = 5_000;
const MAX_RESPAWN_DELAY = 5_000;

export class WorkerPool {
  private readonly workers: (ChildPeer | undefined)[];
  private readonly events = new EventEmitter();
  private readonly waiters: (() => void)[] = [];
  private closing = false;
  private respawnDelay: number;

  constructor(
    readonly size: number,
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly options: PoolOptions = {},
  ) {
    if (!Number.isInteger(size) || size < 1) throw invalidArgument(`pool size must be a positive integer, got ${size}`);
    this.workers = new Array(size).fill(undefined);
    this.respawnDelay = options.respawnDelay ?? 100;
  }

  /** Starts every child; resolves when all have spawned. */
  async start(): Promise<this> {
    await Promise.all(this.workers.map((_, slot) => this.spawnInto(slot)));
    return this;
  }

  /** The live children. */
  get peers(): ChildPeer[] {
    return this.workers.filter((w): w is ChildPeer => w !== undefined && !w.closed);
  }

  on<E extends keyof PoolEvents>(event: E, listener: (...args: PoolEvents[E]) => void): () => void {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return () => this.events.off(event, listener as (...args: unknown[]) => void);
  }

  async request<R = unknown>(method: string, params?: unknown, options: PoolRequestOptions = {}): Promise<R> {
    const { idempotent = false, ...requestOptions } = options;
    // Picked in the same tick when a child is live: an await here would let a burst of calls
    // all see the same idle child before any of them is pending on it.
    const first = (this.closing ? undefined : this.leastBusy()) ?? (await this.pick(method, options));
    try {
      return await first.request<R>(method, params, requestOptions);
    } catch (error) {
      if (!idempotent || !isWarrenError(error) || error.code !== 'WARREN_PEER_CLOSED' || this.closing) throw error;
      const second = await this.pick(method, options, first);
      return await second.request<R>(method, params, requestOptions);
    }
  }

  /** Sends a notification to every live child. */
  broadcast(method: string, params?: unknown): void {
    for (const worker of this.peers) worker.notify(method, params);
  }

  /** Closes every child gracefully (each answers what it is running, then exits). */
  async close(): Promise<void> {
    this.closing = true;
    const workers = this.peers;
    await Promise.all(
      workers.map(async (w) => {
        await w.close();
        await w.exited;
      }),
    );
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The least busy live child other than `avoid`, waiting for a replacement (up to the request's timeout) when none is live. */
  private async pick(method: string, options: RequestOptions, avoid?: ChildPeer): Promise<ChildPeer> {
    const timeout = options.timeout ?? this.options.timeout ?? 30_000;
    const deadline = timeout === 0 ? Number.POSITIVE_INFINITY : Date.now() + timeout;
    for (;;) {
      if (this.closing) throw new PeerClosedError('worker pool is closed');
      const best = this.leastBusy(avoid);
      if (best) return best;
      const left = deadline - Date.now();
      if (left <= 0) throw new TimeoutError(method, timeout, `request '${method}' found no live worker in the pool within ${timeout} ms`);
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(left) ? setTimeout(resolve, left) : undefined;
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private leastBusy(avoid?: ChildPeer): ChildPeer | undefined {
    let best: ChildPeer | undefined;
    for (const w of this.workers) {
      if (w === undefined || w.closed || w === avoid) continue;
      if (best === undefined || w.pendingCount < best.pendingCount) best = w;
    }
    return best;
  }

  private async spawnInto(slot: number): Promise<void> {
    const worker = await spawnPeer(this.command, this.args, { name: `worker-${slot}`, ...this.options });
    if (this.closing) {
      worker.kill();
      return;
    }
    const startedAt = Date.now();
    this.workers[slot] = worker;
    this.options.onWorker?.(worker);
    this.events.emit('spawn', worker);
    for (const wake of this.waiters.splice(0)) wake();
    worker.on('close', () => {
      if (this.workers[slot] === worker) this.workers[slot] = undefined;
      void worker.exited.then((exit) => {
        this.events.emit('exit', worker, exit);
        if (this.closing) return;
        // Children that die young are replaced more and more slowly, so a broken worker script
        // does not spin the machine.
        const young = Date.now() - startedAt < STABLE_AFTER_MS;
        const delay = young ? this.respawnDelay : (this.options.respawnDelay ?? 100);
        this.respawnDelay = young ? Math.min(this.respawnDelay * 2, MAX_RESPAWN_DELAY) : (this.options.respawnDelay ?? 100);
        setTimeout(() => {
          if (this.closing) return;
          this.spawnInto(slot).catch((error) => this.events.emit('error', error));
        }, delay).unref();
      });
    });
  }
}

/**
 * Starts `n` children running `command args` (each using stdioPeer()) and resolves when all
 * have spawned.
 * @example
 * const pool = await spawnPool(4, process.execPath, ['worker.js']);
 * const result = await pool.request('resize', image, { idempotent: true });
 */
export function spawnPool(n: number, command: string, args: readonly string[] = [], options: PoolOptions = {}): Promise<WorkerPool> {
  return new WorkerPool(n, command, args, options).start();
}
