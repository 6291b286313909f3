/**
 * A Peer speaks to one other process over one byte stream: requests it answers and requests
 * it makes, notifications both ways, progress, cancellation and streams. It only ever sees a
 * Framing (bytes <-> messages) and an Outbox (batched writes); transports/ adapts sockets,
 * stdio and child processes to it.
 */
import { EventEmitter } from 'node:events';
import type { Duplex, Readable, Writable } from 'node:stream';
import { CancelledError, invalidArgument, isWarrenError, PeerClosedError, RemoteError, TimeoutError, WarrenError } from '../errors.js';
import { type Codec, type CodecName, resolveCodec } from '../wire/codecs.js';
import type { Framing, MessageSink, RequestId, WireError } from '../wire/framing.js';
import { INITIAL_STREAM_CREDIT } from '../wire/header.js';
import type { MethodDescriptor, NotificationDescriptor } from './contract.js';
import { type PeerOptions, type ResolvedPeerOptions, resolvePeerOptions } from './options.js';
import { Outbox } from './outbox.js';
import { IncomingStream, pumpStream } from './streams.js';

export { type PeerOptions, resolvePeerOptions } from './options.js';

export interface RequestOptions {
  /** Overrides the peer's default timeout (ms); 0 waits forever. */
  timeout?: number;
  /** Aborting sends a cancel frame and rejects at once with WARREN_CANCELLED. */
  signal?: AbortSignal;
  /** Receives the handler's ctx.progress() values while the request runs. */
  onProgress?: (value: unknown) => void;
  /** Codec for this request's params; the answer comes back in the same codec (a raw request's answers that are not bytes or strings, and its errors: JSON). */
  codec?: CodecName | Codec;
}

/** What a request handler receives besides the params. */
export interface RequestContext {
  readonly id: RequestId;
  readonly method: string;
  readonly peer: Peer;
  /** Aborts when the caller cancels or the peer closes. */
  readonly signal: AbortSignal;
  /** Sends a progress value to the caller's onProgress. */
  progress(value: unknown): void;
}

export type RequestHandler<P = unknown, R = unknown> = (params: P, ctx: RequestContext) => R | undefined | Promise<R | undefined>;
export type NotifyHandler<P = unknown> = (params: P, peer: Peer) => unknown;

export interface PeerStats {
  requestsSent: number;
  requestsReceived: number;
  notificationsSent: number;
  notificationsReceived: number;
  /** Responses whose id matched no pending request (ignored). */
  unknownResponses: number;
  /** Notifications that could not be decoded (dropped). */
  badMessages: number;
  junkBytes: number;
}

export interface PeerEvents {
  close: [error: Error | undefined];
  junk: [bytes: Buffer];
  /** A notification that could not be decoded: there is nobody to answer. */
  badMessage: [error: WarrenError];
}

type Settle = 'resolve' | 'reject';

/** A request this side sent and awaits. */
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
  ) {}
}

/** A request this side is answering. */
class Incoming implements RequestContext {
  private controller: AbortController | undefined = undefined;
  done = false;
  cancelled = false;
  constructor(
    readonly id: RequestId,
    readonly method: string,
    readonly peer: Peer,
    readonly codec: number,
    private readonly progressToken: RequestId,
  ) {}
  // Most handlers never look at the signal: create the AbortController only when asked.
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(new CancelledError());
    }
    return this.controller.signal;
  }
  abort(reason: Error): void {
    this.cancelled = true;
    this.controller?.abort(reason);
  }
  progress(value: unknown): void {
    if (this.done || this.cancelled) return;
    this.peer._sendProgress(this.progressToken, value, this.codec);
  }
}

interface Registration<H> {
  method: string;
  handler: H;
}

export class Peer implements MessageSink {
  readonly options: ResolvedPeerOptions;
  readonly stats: PeerStats = {
    requestsSent: 0,
    requestsReceived: 0,
    notificationsSent: 0,
    notificationsReceived: 0,
    unknownResponses: 0,
    badMessages: 0,
    junkBytes: 0,
  };

  private readonly readable: Readable;
  private readonly writable: Writable;
  private readonly framing: Framing;
  private readonly outbox: Outbox;
  private readonly events = new EventEmitter();

  private readonly pending = new Map<number, Outgoing>();
  private readonly incoming = new Map<RequestId, Incoming>();
  private readonly streamsIn = new Map<number, IncomingStream>();
  private readonly creditWaiters = new Map<RequestId, (credit: number) => void>();
  /** Credit that arrived while its producer still had some: kept, never dropped. */
  private readonly creditBank = new Map<RequestId, number>();
  /** JSON-RPC progress tokens the callers chose themselves, to their request ids. */
  private readonly progressTokens = new Map<RequestId, number>();
  private readonly waiting: [RequestId, string, unknown, number][] = [];
  private running = 0;
  private nextId = 0;

  private requestHandlers: Registration<RequestHandler>[] = [];
  private notifyHandlers: Registration<NotifyHandler>[] = [];
  private readonly requestChains = new Map<string, RequestHandler[]>();
  private readonly notifyChains = new Map<string, NotifyHandler[]>();

  private sweepTimer: NodeJS.Timeout | undefined = undefined;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closePromise: Promise<void> | undefined = undefined;
  private closeError: Error | undefined = undefined;
  private idleWaiters: (() => void)[] = [];

  private readonly onData = (chunk: Buffer) => this.framing.feed(chunk);
  private readonly onEnd = () => {
    this.framing.end();
    if (this.state === 'closed') return;
    const reason = new PeerClosedError(`${this.options.name}: the other side closed the stream`);
    // With nothing left to answer (the usual case), or no way to answer, close at once.
    if (this.running + this.waiting.length === 0 || !this.canWriteAfterEnd()) {
      this.destroy(reason);
      return;
    }
    this.halfClosed(reason);
  };
  private readonly onStreamClose = () => this.destroy(new PeerClosedError(`${this.options.name}: stream closed`));
  private readonly onStreamError = (error: Error) =>
    this.destroy(new PeerClosedError(`${this.options.name}: stream error: ${error.message}`, { cause: error }));

  /**
   * @param stream a Duplex (socket), or separate readable and writable sides (stdio, a child's pipes)
   */
  constructor(stream: Duplex | { readable: Readable; writable: Writable }, options: PeerOptions = {}) {
    this.options = resolvePeerOptions(options);
    if ('readable' in stream && typeof stream.readable === 'object' && 'writable' in stream && typeof stream.writable === 'object') {
      this.readable = stream.readable;
      this.writable = stream.writable;
    } else {
      this.readable = stream as Duplex;
      this.writable = stream as Duplex;
    }
    this.outbox = new Outbox(this.writable);
    this.framing = this.options.framing({
      sink: this,
      out: this.outbox,
      maxFrameSize: this.options.maxFrameSize,
      lenient: this.options.lenient,
      codec: this.options.codec.id,
    });
    this.readable.on('data', this.onData);
    this.readable.on('end', this.onEnd);
    this.readable.on('error', this.onStreamError);
    this.readable.on('close', this.onStreamClose);
    if ((this.writable as unknown) !== this.readable) {
      this.writable.on('error', this.onStreamError);
      this.writable.on('close', this.onStreamClose);
    }
  }

  get closed(): boolean {
    return this.state !== 'open';
  }

  /** Requests sent and not yet answered. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Bytes waiting to be written: this peer's queue plus the stream's own buffer. */
  get bufferedBytes(): number {
    return this.outbox.bufferedBytes;
  }

  /** Handlers running or queued. */
  get activeHandlers(): number {
    return this.running + this.waiting.length;
  }

  on<E extends keyof PeerEvents>(event: E, listener: (...args: PeerEvents[E]) => void): () => void {
    this.events.on(event, listener as (...args: unknown[]) => void);
    return () => this.events.off(event, listener as (...args: unknown[]) => void);
  }

  // ---- calling --------------------------------------------------------------------------

  request<P, R>(method: MethodDescriptor<P, R>, ...args: ParamsArgs<P>): Promise<R>;
  request<R = unknown>(method: string, params?: unknown, options?: RequestOptions): Promise<R>;
  request(method: string | MethodDescriptor<unknown, unknown>, params?: unknown, options?: RequestOptions): Promise<unknown> {
    const name = typeof method === 'string' ? method : method.method;
    if (this.state !== 'open') return Promise.reject(this.closedError());
    const signal = options?.signal;
    if (signal?.aborted)
      return Promise.reject(new CancelledError(`request '${name}' cancelled before it was sent`, { cause: signal.reason }));
    if (this.outbox.bufferedBytes > this.options.maxOutboundBytes) return Promise.reject(this.queueFull());
    const timeout = options?.timeout ?? this.options.timeout;
    if (!(timeout >= 0)) return Promise.reject(invalidArgument(`timeout must be a non-negative number of ms, got ${timeout}`));
    let id: number;
    try {
      id = this.newId();
    } catch (error) {
      // request() always answers with a promise, even when the idGenerator fails.
      return Promise.reject(error);
    }
    let codecId = this.options.codec.id;
    if (options?.codec !== undefined) {
      try {
        codecId = resolveCodec(options.codec).id;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const onProgress = options?.onProgress;
    const onShared = timeout === this.options.timeout && timeout > 0;
    const deadline = onShared ? performance.now() + timeout : 0;
    // LSP convention: progress for a JSON-RPC request is addressed by a token in its params.
    let sentParams = params;
    let progressToken: RequestId | undefined;
    if (onProgress && this.framing.name === 'jsonrpc' && isPlainObject(params)) {
      const token = params.workDoneToken;
      if (token === undefined) sentParams = { ...params, workDoneToken: id };
      else if (typeof token === 'string' || typeof token === 'number') progressToken = token;
    }

    return new Promise((resolve, reject) => {
      const out = new Outgoing(id, name, resolve, reject, deadline, onProgress);
      if (progressToken !== undefined) {
        out.progressToken = progressToken;
        this.progressTokens.set(progressToken, id);
      }
      // Registered before the write so that a response on the same tick finds it.
      this.pending.set(id, out);
      try {
        this.framing.writeRequest(id, name, sentParams, codecId);
      } catch (error) {
        this.pending.delete(id);
        reject(error);
        return;
      }
      this.stats.requestsSent++;
      if (onShared) {
        if (this.sweepTimer === undefined) this.armSweep(timeout);
      } else if (timeout > 0) {
        out.timer = setTimeout(() => this.expire(out, timeout), timeout);
      }
      if (signal) {
        const onAbort = () => this.cancelOutgoing(out, signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        out.abortCleanup = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  notify<P>(method: NotificationDescriptor<P>, ...args: ParamsArgs<P>): void;
  notify(method: string, params?: unknown, options?: { codec?: CodecName | Codec }): void;
  notify(method: string | NotificationDescriptor<unknown>, params?: unknown, options?: { codec?: CodecName | Codec }): void {
    if (this.state === 'closed') throw this.closedError();
    if (this.outbox.bufferedBytes > this.options.maxOutboundBytes) throw this.queueFull();
    const codecId = options?.codec === undefined ? this.options.codec.id : resolveCodec(options.codec).id;
    this.framing.writeNotify(typeof method === 'string' ? method : method.method, params, codecId);
    this.stats.notificationsSent++;
  }

  /**
   * Handles requests for `method` ('*' for any). Returning undefined passes to the next
   * handler. A stream method declares its result as AsyncIterable<T>: method<P, AsyncIterable<T>>().
   */
  onRequest<P, R>(method: MethodDescriptor<P, R>, handler: RequestHandler<P, R>): () => void;
  onRequest(method: string, handler: RequestHandler): () => void;
  onRequest(method: string | MethodDescriptor<unknown, unknown>, handler: RequestHandler): () => void {
    const reg = { method: typeof method === 'string' ? method : method.method, handler };
    this.requestHandlers = [...this.requestHandlers, reg];
    this.requestChains.clear();
    return () => {
      this.requestHandlers = this.requestHandlers.filter((r) => r !== reg);
      this.requestChains.clear();
    };
  }

  /** Handles notifications for `method` ('*' for any); all handlers run until one returns something other than undefined. */
  onNotify<P>(method: NotificationDescriptor<P>, handler: NotifyHandler<P>): () => void;
  onNotify(method: string, handler: NotifyHandler): () => void;
  onNotify(method: string | NotificationDescriptor<unknown>, handler: NotifyHandler): () => void {
    const reg = { method: typeof method === 'string' ? method : method.method, handler };
    this.notifyHandlers = [...this.notifyHandlers, reg];
    this.notifyChains.clear();
    return () => {
      this.notifyHandlers = this.notifyHandlers.filter((r) => r !== reg);
      this.notifyChains.clear();
    };
  }

  // ---- closing --------------------------------------------------------------------------

  /**
   * Graceful: refuses new requests, waits up to closeTimeout for pending requests and running
   * handlers, flushes, ends the stream. Idempotent.
   */
  close(options?: { timeout?: number }): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (this.state === 'closed') return Promise.resolve();
    this.state = 'closing';
    const timeout = options?.timeout ?? this.options.closeTimeout;
    this.closePromise = new Promise<void>((resolve) => {
      let ending = false;
      const done = () => {
        clearTimeout(timer);
        this.destroy(new PeerClosedError(`${this.options.name}: closed`));
        resolve();
      };
      // Writes what is queued (even while waiting for 'drain') and ends the stream; the stream
      // is destroyed once those bytes have left, so that the last answers are not cut off.
      const finish = () => {
        if (ending) return;
        ending = true;
        this.outbox.flush(true);
        const writable = this.writable;
        if (writable.destroyed || writable.writableFinished) return done();
        writable.once('finish', done);
        writable.once('close', done);
        if (!writable.writableEnded) writable.end();
      };
      const timer = setTimeout(() => {
        finish();
        done();
      }, timeout);
      timer.unref?.();
      // Deferred: whatever made the peer idle (a handler's release) writes its answer first.
      this.whenIdle(() => queueMicrotask(finish));
    });
    return this.closePromise;
  }

  /** Immediate: rejects everything pending with `error` (or WARREN_PEER_CLOSED) and destroys the stream. Idempotent. */
  destroy(error?: Error): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeError = error;
    const reason = isWarrenError(error)
      ? error
      : new PeerClosedError(`${this.options.name}: destroyed${error ? `: ${error.message}` : ''}`, { cause: error });
    this.readable.removeListener('data', this.onData);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const out of pending) this.settle(out, 'reject', reason);
    for (const stream of this.streamsIn.values()) stream.fail(reason);
    this.streamsIn.clear();
    for (const inc of this.incoming.values()) inc.abort(reason);
    this.incoming.clear();
    this.waiting.length = 0;
    for (const wake of this.creditWaiters.values()) wake(0);
    this.creditWaiters.clear();
    this.creditBank.clear();
    this.outbox.discard();
    if (!this.readable.destroyed) this.readable.destroy();
    if ((this.writable as unknown) !== this.readable && !this.writable.destroyed) this.writable.destroy();
    this.notifyIdle();
    this.events.emit('close', error && !(error instanceof PeerClosedError) ? error : undefined);
  }

  /**
   * The other side ended its writing side but may still read (a half-closed connection):
   * nothing more will arrive, so what awaits an answer fails now, while the requests already
   * received are still answered before this side ends its own writing side (protocol.md §8.4).
   */
  private halfClosed(reason: PeerClosedError): void {
    this.readable.removeListener('data', this.onData);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const out of pending) this.settle(out, 'reject', reason);
    for (const stream of this.streamsIn.values()) stream.fail(reason);
    this.streamsIn.clear();
    // A producer waiting for credit would wait forever: none can arrive any more.
    for (const [id, wake] of [...this.creditWaiters]) {
      this.incoming.get(id)?.abort(reason);
      wake(0);
    }
    void this.close();
  }

  /** Whether answers can still be written once the readable side has ended. */
  private canWriteAfterEnd(): boolean {
    const writable = this.writable as Writable & { allowHalfOpen?: boolean };
    if (writable.destroyed || writable.writableEnded) return false;
    // A Duplex that does not allow half-open connections ends its writable side by itself.
    return (writable as unknown) !== this.readable || writable.allowHalfOpen !== false;
  }

  // ---- MessageSink: called by the framing, not part of the public API -------------------

  /** @internal */
  receiveRequest(id: RequestId, method: string, params: unknown, codec: number): void {
    this.stats.requestsReceived++;
    if (this.state === 'closed') return;
    if (this.isAnswering(id)) {
      this.sendError(id, new WarrenError('WARREN_PROTOCOL', `request id ${id} is already in use by a request this side is answering`), codec);
      return;
    }
    if (this.running >= this.options.maxConcurrent) {
      if (this.waiting.length >= this.options.maxQueued) {
        this.sendError(
          id,
          new WarrenError(
            'WARREN_OVERLOADED',
            `${this.options.name}: ${this.running} requests running and ${this.waiting.length} queued; try again later`,
          ),
          codec,
        );
        return;
      }
      this.waiting.push([id, method, params, codec]);
      return;
    }
    this.run(id, method, params, codec);
  }

  /** A request with this id is running (and not cancelled by its caller) or queued. */
  private isAnswering(id: RequestId): boolean {
    const inc = this.incoming.get(id);
    if (inc !== undefined && !inc.cancelled) return true;
    if (this.waiting.length === 0) return false;
    for (const w of this.waiting) if (w[0] === id) return true;
    return false;
  }

  /** @internal */
  receiveNotify(method: string, params: unknown): void {
    this.stats.notificationsReceived++;
    const chain = this.notifyChain(method);
    for (const handler of chain) {
      let result: unknown;
      try {
        result = handler(params, this);
      } catch (error) {
        this.events.emit(
          'badMessage',
          new WarrenError('WARREN_REMOTE_ERROR', `notification handler for '${method}' threw: ${(error as Error).message}`, {
            cause: error,
          }),
        );
        continue;
      }
      if (result !== undefined) return;
    }
  }

  onResponse(id: RequestId, result: unknown, stream: boolean): void {
    const out = typeof id === 'number' ? this.pending.get(id) : this.pending.get(Number(id));
    if (out === undefined) {
      this.stats.unknownResponses++;
      return;
    }
    this.pending.delete(out.id);
    if (stream) {
      const incoming = new IncomingStream(this.options.streamWindow, {
        credit: (n) => this.framing.writeCredit(out.id, n),
        cancel: () => {
          this.streamsIn.delete(out.id);
          if (this.state !== 'closed') this.framing.writeCancel(out.id);
          if (this.state === 'closing') this.notifyIdle();
        },
      });
      this.streamsIn.set(out.id, incoming);
      const rest = this.options.streamWindow - INITIAL_STREAM_CREDIT;
      if (rest > 0) this.framing.writeCredit(out.id, rest);
      this.settle(out, 'resolve', incoming);
      return;
    }
    this.settle(out, 'resolve', result);
  }

  onError(id: RequestId, error: WireError): void {
    const key = typeof id === 'number' ? id : Number(id);
    const remote = new RemoteError(error.code, error.message, {
      data: error.data,
      ...(error.stack === undefined ? {} : { remoteStack: error.stack }),
      ...(error.rpcCode === undefined ? {} : { rpcCode: error.rpcCode }),
    });
    const stream = this.streamsIn.get(key);
    if (stream) {
      this.streamsIn.delete(key);
      stream.fail(remote);
      if (this.state === 'closing') this.notifyIdle();
      return;
    }
    const out = this.pending.get(key);
    if (out === undefined) {
      this.stats.unknownResponses++;
      return;
    }
    this.pending.delete(key);
    this.settle(out, 'reject', remote);
  }

  onCancel(id: RequestId): void {
    const inc = this.incoming.get(id);
    if (inc === undefined) {
      // Still queued: drop it.
      const at = this.waiting.findIndex((w) => w[0] === id);
      if (at >= 0) this.waiting.splice(at, 1);
      return;
    }
    inc.abort(new CancelledError(`request '${inc.method}' cancelled by the caller`));
    this.creditWaiters.get(id)?.(0);
  }

  onProgress(id: RequestId, value: unknown): void {
    const byToken = this.progressTokens.size > 0 ? this.progressTokens.get(id) : undefined;
    const out = this.pending.get(byToken ?? (typeof id === 'number' ? id : Number(id)));
    if (out?.onProgress === undefined) return;
    try {
      out.onProgress(value);
    } catch {
      // A throwing progress listener must not break the connection.
    }
  }

  onStreamItem(id: RequestId, value: unknown): void {
    const stream = this.streamsIn.get(id as number);
    if (stream && !stream.push(value)) {
      // The producer ignored its credit: that is a broken peer, not a slow consumer.
      this.streamsIn.delete(id as number);
      stream.fail(new WarrenError('WARREN_PROTOCOL', 'stream producer sent more items than its credit allowed'));
      this.framing.writeCancel(id);
      if (this.state === 'closing') this.notifyIdle();
    }
  }

  onStreamEnd(id: RequestId): void {
    const stream = this.streamsIn.get(id as number);
    if (stream) {
      this.streamsIn.delete(id as number);
      stream.end();
      // A graceful close may have been waiting for this stream to finish.
      if (this.state === 'closing') this.notifyIdle();
    }
  }

  onCredit(id: RequestId, credit: number): void {
    const wake = this.creditWaiters.get(id);
    if (wake) wake(credit);
    else if (this.incoming.has(id)) this.creditBank.set(id, (this.creditBank.get(id) ?? 0) + credit);
  }

  onBadCredit(id: RequestId, error: WarrenError): void {
    const inc = this.incoming.get(id);
    if (inc === undefined) {
      // Still queued: it never runs; the caller learns why.
      const at = this.waiting.findIndex((w) => w[0] === id);
      if (at < 0) return;
      const codec = (this.waiting[at] as [RequestId, string, unknown, number])[3];
      this.waiting.splice(at, 1);
      this.sendError(id, error, codec);
      return;
    }
    // The handler (or the stream it feeds) stops as if cancelled, and nothing more is sent for
    // it but this error.
    inc.abort(error);
    this.creditWaiters.get(id)?.(0);
    this.sendError(id, error, inc.codec);
  }

  onBadRequest(id: RequestId, error: WarrenError, codec?: number): void {
    if (id === 0) {
      this.stats.badMessages++;
      this.events.emit('badMessage', error);
      return;
    }
    this.stats.requestsReceived++;
    this.sendError(id, error, codec ?? this.options.codec.id);
  }

  onJunk(bytes: Buffer): void {
    this.stats.junkBytes += bytes.length;
    this.events.emit('junk', bytes);
  }

  onFatal(error: WarrenError): void {
    this.destroy(error);
  }

  /** @internal used by request contexts */
  _sendProgress(token: RequestId, value: unknown, codec: number): void {
    if (this.state === 'closed') return;
    try {
      this.framing.writeProgress(token, value, codec);
    } catch {
      // An unencodable progress value is dropped; the request itself goes on.
    }
  }

  // ---- internals ------------------------------------------------------------------------

  private run(id: RequestId, method: string, params: unknown, codec: number): void {
    const chain = this.requestChain(method);
    if (chain.length === 0) {
      this.sendError(id, new WarrenError('WARREN_NO_HANDLER', `no handler for method '${method}'`), codec);
      return;
    }
    const token =
      this.framing.name === 'jsonrpc' &&
      isPlainObject(params) &&
      (typeof params.workDoneToken === 'string' || typeof params.workDoneToken === 'number')
        ? (params.workDoneToken as RequestId)
        : id;
    const inc = new Incoming(id, method, this, codec, token);
    this.incoming.set(id, inc);
    this.running++;
    this.tryHandler(inc, chain, 0, params);
  }

  private tryHandler(inc: Incoming, chain: RequestHandler[], index: number, params: unknown): void {
    for (let i = index; i < chain.length; i++) {
      let result: unknown;
      try {
        result = (chain[i] as RequestHandler)(params, inc);
      } catch (error) {
        this.finish(inc, undefined, error);
        return;
      }
      if (isPromiseLike(result)) {
        const next = i + 1;
        result.then(
          (value) => {
            if (value === undefined && next < chain.length) this.tryHandler(inc, chain, next, params);
            else if (value === undefined) this.finish(inc, undefined, this.noHandler(inc.method));
            else this.finish(inc, value, undefined);
          },
          (error) => this.finish(inc, undefined, error),
        );
        return;
      }
      if (result !== undefined) {
        this.finish(inc, result, undefined);
        return;
      }
    }
    this.finish(inc, undefined, this.noHandler(inc.method));
  }

  private noHandler(method: string): WarrenError {
    return new WarrenError('WARREN_NO_HANDLER', `no handler answered method '${method}'`);
  }

  private finish(inc: Incoming, result: unknown, error: unknown): void {
    if (inc.done) return;
    if (this.state === 'closed') {
      // Nothing can be sent any more, but the handler is no longer running.
      this.release(inc);
      return;
    }
    if (inc.cancelled) {
      this.release(inc);
      // JSON-RPC (LSP) expects an answer even to a cancelled request; Warren frames do not.
      if (this.framing.name === 'jsonrpc') this.sendError(inc.id, new CancelledError(`request '${inc.method}' cancelled`), inc.codec);
      return;
    }
    if (error !== undefined) {
      this.release(inc);
      this.sendError(inc.id, error, inc.codec);
      return;
    }
    if (isAsyncIterable(result)) {
      if (!this.framing.supportsStreams) {
        this.release(inc);
        this.sendError(
          inc.id,
          new WarrenError(
            'WARREN_UNSUPPORTED',
            `method '${inc.method}' returned a stream, which ${this.framing.name} framing cannot carry`,
          ),
          inc.codec,
        );
        return;
      }
      this.framing.writeResponse(inc.id, undefined, true, inc.codec);
      void pumpStream(result, {
        window: INITIAL_STREAM_CREDIT,
        isCancelled: () => inc.cancelled || this.state === 'closed',
        waitForCredit: () => {
          const banked = this.creditBank.get(inc.id);
          if (banked !== undefined) {
            this.creditBank.delete(inc.id);
            return Promise.resolve(banked);
          }
          return new Promise<number>((resolve) => {
            this.creditWaiters.set(inc.id, (n) => {
              this.creditWaiters.delete(inc.id);
              resolve(n);
            });
          });
        },
        item: (value) => this.framing.writeStreamItem(inc.id, value, inc.codec),
        end: () => this.framing.writeStreamEnd(inc.id),
        fail: (err) => this.sendError(inc.id, err, inc.codec),
      }).finally(() => this.release(inc));
      return;
    }
    this.release(inc);
    try {
      this.framing.writeResponse(inc.id, result, false, inc.codec);
    } catch (cause) {
      // A coded failure (a result over the size limit, a CodecError) keeps its code.
      const code = isWarrenError(cause) ? cause.code : 'WARREN_CODEC';
      const message = `the result of '${inc.method}' could not be sent: ${(cause as Error).message}`;
      this.sendError(inc.id, new WarrenError(code, message, { data: isWarrenError(cause) ? cause.data : undefined }), inc.codec);
    }
  }

  private release(inc: Incoming): void {
    inc.done = true;
    // A cancelled request's id may already serve a newer request of the caller's.
    if (this.incoming.get(inc.id) === inc) {
      this.incoming.delete(inc.id);
      this.creditBank.delete(inc.id);
    }
    this.running--;
    while (this.running < this.options.maxConcurrent && this.waiting.length > 0) {
      const [id, method, params, codec] = this.waiting.shift() as [RequestId, string, unknown, number];
      this.run(id, method, params, codec);
    }
    if (this.state === 'closing') this.notifyIdle();
  }

  private sendError(id: RequestId, error: unknown, codec: number): void {
    if (this.state === 'closed') return;
    const e = error as { code?: unknown; message?: unknown; data?: unknown; stack?: unknown };
    const wire: WireError = {
      code: typeof e?.code === 'string' && e.code.length > 0 ? e.code : 'WARREN_REMOTE_ERROR',
      message: typeof e?.message === 'string' ? e.message : String(error),
    };
    if (e?.data !== undefined) wire.data = e.data;
    if (this.options.debug && typeof e?.stack === 'string') wire.stack = e.stack;
    try {
      this.framing.writeError(id, wire, codec);
    } catch {
      // The framing could not write even a bare error (e.g. an id JSON-RPC cannot carry):
      // dropping this one answer is better than throwing into the read loop.
    }
  }

  private settle(out: Outgoing, how: Settle, value: unknown): void {
    if (out.timer) clearTimeout(out.timer);
    if (out.progressToken !== undefined) this.progressTokens.delete(out.progressToken);
    out.abortCleanup?.();
    if (how === 'resolve') out.resolve(value);
    else out.reject(value as Error);
    if (this.state === 'closing') this.notifyIdle();
  }

  private cancelOutgoing(out: Outgoing, reason: unknown): void {
    if (this.pending.get(out.id) !== out) return;
    this.pending.delete(out.id);
    if (this.state !== 'closed') this.framing.writeCancel(out.id);
    this.settle(out, 'reject', new CancelledError(`request '${out.method}' cancelled`, { cause: reason }));
  }

  private expire(out: Outgoing, timeout: number): void {
    if (this.pending.get(out.id) !== out) return;
    this.pending.delete(out.id);
    // Tell the handler side to stop working on it.
    if (this.state !== 'closed') this.framing.writeCancel(out.id);
    this.settle(out, 'reject', new TimeoutError(out.method, timeout));
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
      this.expire(out, this.options.timeout);
    }
  }

  private newId(): number {
    if (this.options.idGenerator) {
      const id = this.options.idGenerator();
      if (!Number.isInteger(id) || id < 1 || id > 0xffffffff || this.pending.has(id)) {
        throw invalidArgument(`idGenerator returned ${id}: ids must be unused integers from 1 to 2^32-1`);
      }
      return id;
    }
    do {
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private requestChain(method: string): RequestHandler[] {
    let chain = this.requestChains.get(method);
    if (chain === undefined) {
      chain = this.requestHandlers.filter((r) => r.method === method || r.method === '*').map((r) => r.handler);
      this.requestChains.set(method, chain);
    }
    return chain;
  }

  private notifyChain(method: string): NotifyHandler[] {
    let chain = this.notifyChains.get(method);
    if (chain === undefined) {
      chain = this.notifyHandlers.filter((r) => r.method === method || r.method === '*').map((r) => r.handler);
      this.notifyChains.set(method, chain);
    }
    return chain;
  }

  private whenIdle(callback: () => void): void {
    this.idleWaiters.push(callback);
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const idle =
      this.state === 'closed' || (this.pending.size === 0 && this.running === 0 && this.waiting.length === 0 && this.streamsIn.size === 0);
    if (!idle) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }

  private closedError(): WarrenError {
    return this.state === 'closing'
      ? new PeerClosedError(`${this.options.name}: closing, no new requests accepted`)
      : new PeerClosedError(`${this.options.name}: closed`, { cause: this.closeError });
  }

  private queueFull(): WarrenError {
    return new WarrenError(
      'WARREN_QUEUE_FULL',
      `${this.options.name}: ${this.outbox.bufferedBytes} bytes wait to be written (limit ${this.options.maxOutboundBytes}); the other side is not reading`,
    );
  }
}

type ParamsArgs<P> = [P] extends [void] ? [params?: undefined, options?: RequestOptions] : [params: P, options?: RequestOptions];

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Record<symbol, unknown>)[Symbol.asyncIterator] === 'function';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}
