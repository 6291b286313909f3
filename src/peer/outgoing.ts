/**
 * The requests a peer sends and awaits: their ids, the pending map, timeouts (one shared timer
 * for requests on the default timeout), cancellation by an AbortSignal, and progress routed to
 * the caller's listener.
 */
import { CancelledError, invalidArgument, TimeoutError } from '../errors.js';
import type { Framing, RequestId } from '../wire/framing.js';
import type { ResolvedPeerOptions } from './options.js';

export interface OutgoingHost {
  readonly framing: Framing;
  readonly options: ResolvedPeerOptions;
  readonly stats: { requestsSent: number };
  /** Whether frames may still be written. */
  canWrite(): boolean;
  /** A request settled: a graceful close may have been waiting for it. */
  requestSettled(): void;
}

/** One request sent and awaited. */
class Outgoing {
  timer: NodeJS.Timeout | undefined = undefined;
  abortCleanup: (() => void) | undefined = undefined;
  /** A progress token the caller chose itself (JSON-RPC workDoneToken). */
  progressToken: RequestId | undefined = undefined;
  constructor(
    readonly id: number,
    readonly method: string,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: Error) => void,
    /** performance.now() deadline for requests on the shared timer; 0 otherwise. */
    readonly deadline: number,
    readonly onProgress: ((value: unknown) => void) | undefined,
    readonly continuation: Continuation | undefined,
  ) {}
}

/**
 * What to do with the answer before the request's promise settles: the promise resolves with
 * what `onValue` or `onError` return (or rejects with what they throw), as `.then(onValue,
 * onError)` would, without a second promise and a microtask per request.
 */
export interface Continuation {
  onValue(value: unknown): unknown;
  onError(error: Error): unknown;
}

/**
 * The executor of every request's promise: it hands the promise's resolving functions over
 * through these two variables, read at once by send(). One shared function, so a request
 * allocates no executor closure nor a context for it.
 */
const unset = (): void => {};
let handedResolve: (value: unknown) => void = unset;
let handedReject: (error: Error) => void = unset;
function handOver(resolve: (value: unknown) => void, reject: (error: Error) => void): void {
  handedResolve = resolve;
  handedReject = reject;
}

export class OutgoingRequests {
  private readonly pending = new Map<number, Outgoing>();
  /** Progress tokens the callers chose themselves, to their request ids. */
  private readonly progressTokens = new Map<RequestId, number>();
  private sweepTimer: NodeJS.Timeout | undefined = undefined;
  private nextId = 0;
  /** The ids reached 2^32-1 and started again from 1: a new one may still be pending. */
  private wrapped = false;

  constructor(private readonly host: OutgoingHost) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Writes the request and resolves with its answer (through `continuation` when given). Never
   * throws: failures reject. Positional arguments: no options object per request.
   */
  send(
    method: string,
    params: unknown,
    timeout: number,
    codec: number,
    signal: AbortSignal | undefined,
    onProgress: ((value: unknown) => void) | undefined,
    continuation: Continuation | undefined,
  ): Promise<unknown> {
    const framing = this.host.framing;
    let id: number;
    try {
      id = this.newId();
    } catch (error) {
      // request() always answers with a promise, even when the idGenerator fails.
      const failed = Promise.reject(error);
      return continuation ? failed.then(undefined, (e: Error) => continuation.onError(e)) : failed;
    }
    const onShared = timeout === this.host.options.timeout && timeout > 0;
    const deadline = onShared ? performance.now() + timeout : 0;
    let sentParams = params;
    let progressToken: RequestId | undefined;
    if (onProgress && framing.outgoingProgress) {
      const addressed = framing.outgoingProgress(id, params);
      sentParams = addressed.params;
      progressToken = addressed.token;
    }

    const promise = new Promise(handOver);
    const out = new Outgoing(id, method, handedResolve, handedReject, deadline, onProgress, continuation);
    // Not kept here: a settled promise would hold its answer until the next request.
    handedResolve = unset;
    handedReject = unset;
    if (progressToken !== undefined) {
      out.progressToken = progressToken;
      this.progressTokens.set(progressToken, id);
    }
    // Registered before the write so that a response on the same tick finds it.
    this.pending.set(id, out);
    try {
      framing.writeRequest(id, method, sentParams, codec);
    } catch (error) {
      this.pending.delete(id);
      if (progressToken !== undefined) this.progressTokens.delete(progressToken);
      this.finish(out, false, error);
      return promise;
    }
    this.host.stats.requestsSent++;
    if (onShared) {
      if (this.sweepTimer === undefined) this.armSweep(timeout);
    } else if (timeout > 0) {
      out.timer = setTimeout(() => this.expire(out, timeout), timeout);
    }
    if (signal) {
      const onAbort = () => this.cancel(out, signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      out.abortCleanup = () => signal.removeEventListener('abort', onAbort);
    }
    return promise;
  }

  has(id: RequestId): boolean {
    return this.pending.has(typeof id === 'number' ? id : Number(id));
  }

  /** Settles request `id` with its answer; false when no such request is pending. */
  resolve(id: RequestId, value: unknown): boolean {
    const out = this.take(id);
    if (out === undefined) return false;
    this.settle(out, true, value);
    return true;
  }

  /** Settles request `id` with an error; false when no such request is pending. */
  reject(id: RequestId, error: Error): boolean {
    const out = this.take(id);
    if (out === undefined) return false;
    this.settle(out, false, error);
    return true;
  }

  /** Hands a progress value to the listener of the request it addresses (by id or token). */
  progress(id: RequestId, value: unknown): void {
    const byToken = this.progressTokens.size > 0 ? this.progressTokens.get(id) : undefined;
    const out = this.pending.get(byToken ?? (typeof id === 'number' ? id : Number(id)));
    if (out?.onProgress === undefined) return;
    try {
      out.onProgress(value);
    } catch {
      // A throwing progress listener must not break the connection.
    }
  }

  /** Rejects every pending request with `reason` and stops the shared timer. */
  failAll(reason: Error): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const out of pending) this.settle(out, false, reason);
  }

  private take(id: RequestId): Outgoing | undefined {
    const key = typeof id === 'number' ? id : Number(id);
    const out = this.pending.get(key);
    if (out !== undefined) this.pending.delete(key);
    return out;
  }

  private settle(out: Outgoing, ok: boolean, value: unknown): void {
    if (out.timer) clearTimeout(out.timer);
    if (out.progressToken !== undefined) this.progressTokens.delete(out.progressToken);
    out.abortCleanup?.();
    this.finish(out, ok, value);
    this.host.requestSettled();
  }

  /** Settles the request's promise, through its continuation when it has one. */
  private finish(out: Outgoing, ok: boolean, value: unknown): void {
    const then = out.continuation;
    if (then === undefined) {
      if (ok) out.resolve(value);
      else out.reject(value as Error);
      return;
    }
    let next: unknown;
    try {
      next = ok ? then.onValue(value) : then.onError(value as Error);
    } catch (error) {
      out.reject(error as Error);
      return;
    }
    out.resolve(next);
  }

  private cancel(out: Outgoing, reason: unknown): void {
    if (this.pending.get(out.id) !== out) return;
    this.pending.delete(out.id);
    if (this.host.canWrite()) this.host.framing.writeCancel(out.id);
    this.settle(out, false, new CancelledError(`request '${out.method}' cancelled`, { cause: reason }));
  }

  private expire(out: Outgoing, timeout: number): void {
    if (this.pending.get(out.id) !== out) return;
    this.pending.delete(out.id);
    // Tell the handler side to stop working on it.
    if (this.host.canWrite()) this.host.framing.writeCancel(out.id);
    this.settle(out, false, new TimeoutError(out.method, timeout));
  }

  // Requests with the default timeout share one timer. The pending map keeps insertion order,
  // so their deadlines are in order too and a sweep stops at the first one still running.
  private armSweep(delay: number): void {
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(1, Math.ceil(delay)));
    this.sweepTimer.unref?.();
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    const now = performance.now();
    for (const out of this.pending.values()) {
      if (out.deadline === 0) continue;
      if (out.deadline > now) {
        this.armSweep(out.deadline - now);
        return;
      }
      this.expire(out, this.host.options.timeout);
    }
  }

  private newId(): number {
    const generator = this.host.options.idGenerator;
    if (generator) {
      const id = generator();
      if (!Number.isInteger(id) || id < 1 || id > 0xffffffff || this.pending.has(id)) {
        throw invalidArgument(`idGenerator returned ${id}: ids must be unused integers from 1 to 2^32-1`);
      }
      return id;
    }
    // Until the ids wrap around, every id handed out is above the pending ones: no lookup needed.
    if (this.nextId < 0xffffffff && !this.wrapped) return ++this.nextId;
    this.wrapped = true;
    do {
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }
}
