/**
 * A Peer speaks to one other process over one byte stream: requests it answers and requests
 * it makes, notifications both ways, progress, cancellation and streams. It only ever sees a
 * Framing (bytes <-> messages) and an Outbox (batched writes); transports/ adapts sockets,
 * stdio and child processes to it.
 *
 * This file is the facade and the connection's life (open, closing, closed, half-closed); the
 * work is in outgoing.ts (requests sent), incoming.ts (requests and notifications received)
 * and stream-credit.ts (flow control of streams both ways). The framing talks to them through
 * a private MessageSink, so its callbacks are not part of the Peer's API.
 */
import { EventEmitter } from 'node:events';
import type { Duplex, Readable, Writable } from 'node:stream';
import { CancelledError, invalidArgument, isWarrenError, PeerClosedError, queueFull, RemoteError, type WarrenError } from '../errors.js';
import { type Codec, type CodecName, resolveCodec } from '../wire/codecs.js';
import type { Framing, MessageSink, RequestId, WireError } from '../wire/framing.js';
import type { MethodDescriptor, NotificationDescriptor } from './contract.js';
import { IncomingRequests } from './incoming.js';
import { type PeerOptions, type ResolvedPeerOptions, resolvePeerOptions } from './options.js';
import { Outbox } from './outbox.js';
import { type Continuation, OutgoingRequests } from './outgoing.js';
import { StreamCredit } from './stream-credit.js';

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

export class Peer {
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
  private readonly outgoing: OutgoingRequests;
  private readonly incoming: IncomingRequests;
  private readonly credit: StreamCredit;

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
    if (this.incoming.active === 0 || !this.canWriteAfterEnd()) {
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
    this.outbox = new Outbox(this.writable, this.options.batchWrites === 'loop');
    this.framing = this.options.framing({
      sink: this.sink(),
      out: this.outbox,
      maxFrameSize: this.options.maxFrameSize,
      lenient: this.options.lenient,
      codec: this.options.codec.id,
    });
    const canWrite = () => this.state !== 'closed';
    const whenClosing = () => {
      if (this.state === 'closing') this.notifyIdle();
    };
    const framing = this.framing;
    this.credit = new StreamCredit({ framing, streamWindow: this.options.streamWindow, canWrite, streamFinished: whenClosing });
    this.outgoing = new OutgoingRequests({ framing, options: this.options, stats: this.stats, canWrite, requestSettled: whenClosing });
    this.incoming = new IncomingRequests({
      peer: this,
      framing,
      options: this.options,
      stats: this.stats,
      events: this.events,
      credit: this.credit,
      canWrite,
      handlerFinished: whenClosing,
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

  /**
   * Changes the largest payload this peer accepts, from the next incoming frame header on
   * (`maxFrameSize` applies to the frames it sends). A server keeps it small for a connection
   * that has not authenticated, so that such a connection cannot make it buffer megabytes,
   * and raises it once the connection is trusted. Without an argument, back to `maxFrameSize`.
   */
  setReceiveLimit(bytes: number = this.options.maxFrameSize): void {
    if (!Number.isInteger(bytes) || bytes <= 0) {
      throw invalidArgument(`receive limit must be a positive whole number of bytes, got ${bytes}`);
    }
    this.framing.setReceiveLimit(bytes);
  }

  /** Requests sent and not yet answered. */
  get pendingCount(): number {
    return this.outgoing.size;
  }

  /** Bytes waiting to be written: this peer's queue plus the stream's own buffer. */
  get bufferedBytes(): number {
    return this.outbox.bufferedBytes;
  }

  /** Handlers running or queued. */
  get activeHandlers(): number {
    return this.incoming.active;
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
    let codec = this.options.codec.id;
    if (options?.codec !== undefined) {
      try {
        codec = resolveCodec(options.codec).id;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.outgoing.send(name, params, timeout, codec, signal, options?.onProgress, undefined);
  }

  /**
   * `request(method, params, options).then(continuation.onValue, continuation.onError)` without
   * the second promise and its microtask, nor closures: the service client's hot path
   * (bench/service). Not part of the documented API.
   * @internal
   */
  requestWith(method: string, params: unknown, options: RequestOptions | undefined, continuation: Continuation): Promise<unknown> {
    const timeout = options?.timeout ?? this.options.timeout;
    // Anything unusual takes the general path, which checks and words it.
    if (
      this.state !== 'open' ||
      options?.signal?.aborted ||
      options?.codec !== undefined ||
      !(timeout >= 0) ||
      this.outbox.bufferedBytes > this.options.maxOutboundBytes
    ) {
      return this.request(method, params, options).then(
        (value) => continuation.onValue(value),
        (error: Error) => continuation.onError(error),
      );
    }
    return this.outgoing.send(method, params, timeout, this.options.codec.id, options?.signal, options?.onProgress, continuation);
  }

  /**
   * `request(method, params, options).then(onValue, onError)` without the second promise and
   * its microtask (requestWith() with the two functions as its continuation).
   * @internal
   */
  requestThen<V, E = V>(
    method: string,
    params: unknown,
    options: RequestOptions | undefined,
    onValue: (value: unknown) => V | PromiseLike<V>,
    onError: (error: Error) => E | PromiseLike<E>,
  ): Promise<V | E> {
    return this.requestWith(method, params, options, { onValue, onError }) as Promise<V | E>;
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
    return this.incoming.addRequestHandler(typeof method === 'string' ? method : method.method, handler);
  }

  /** Handles notifications for `method` ('*' for any); all handlers run until one returns something other than undefined. */
  onNotify<P>(method: NotificationDescriptor<P>, handler: NotifyHandler<P>): () => void;
  onNotify(method: string, handler: NotifyHandler): () => void;
  onNotify(method: string | NotificationDescriptor<unknown>, handler: NotifyHandler): () => void {
    return this.incoming.addNotifyHandler(typeof method === 'string' ? method : method.method, handler as NotifyHandler);
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
    this.outgoing.failAll(reason);
    this.credit.failConsumers(reason);
    this.incoming.abortAll(reason);
    this.credit.releaseAll();
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
    this.outgoing.failAll(reason);
    this.credit.failConsumers(reason);
    // A producer waiting for credit would wait forever: none can arrive any more.
    this.incoming.abortWaitingProducers(reason);
    void this.close();
  }

  /** Whether answers can still be written once the readable side has ended. */
  private canWriteAfterEnd(): boolean {
    const writable = this.writable as Writable & { allowHalfOpen?: boolean };
    if (writable.destroyed || writable.writableEnded) return false;
    // A Duplex that does not allow half-open connections ends its writable side by itself.
    return (writable as unknown) !== this.readable || writable.allowHalfOpen !== false;
  }

  /** What the framing calls as it decodes: kept off the Peer's own API. */
  private sink(): MessageSink {
    return {
      receiveRequest: (id, method, params, codec) => {
        this.stats.requestsReceived++;
        if (this.state === 'closed') return;
        this.incoming.receive(id, method, params, codec);
      },
      receiveNotify: (method, params) => {
        this.stats.notificationsReceived++;
        this.incoming.receiveNotify(method, params);
      },
      onResponse: (id, result, stream) => {
        const settled = stream
          ? this.outgoing.has(id) && this.outgoing.resolve(id, this.credit.openConsumer(Number(id)))
          : this.outgoing.resolve(id, result);
        if (!settled) this.stats.unknownResponses++;
      },
      onError: (id, error) => this.onError(id, error),
      onCancel: (id) => this.incoming.cancel(id),
      onProgress: (id, value) => this.outgoing.progress(id, value),
      onStreamItem: (id, value) => this.credit.onItem(id, value),
      onStreamEnd: (id) => this.credit.onEnd(id),
      onCredit: (id, credit) => this.credit.onCredit(id, credit, this.incoming.isRunning(id)),
      onBadCredit: (id, error) => this.incoming.fail(id, error),
      onBadRequest: (id, error, codec) => {
        if (id === 0) {
          this.stats.badMessages++;
          this.events.emit('badMessage', error);
          return;
        }
        this.stats.requestsReceived++;
        this.incoming.sendError(id, error, codec ?? this.options.codec.id);
      },
      onJunk: (bytes) => {
        this.stats.junkBytes += bytes.length;
        this.events.emit('junk', bytes);
      },
      onFatal: (error) => this.destroy(error),
    };
  }

  private onError(id: RequestId, error: WireError): void {
    const key = typeof id === 'number' ? id : Number(id);
    const remote = new RemoteError(error.code, error.message, {
      data: error.data,
      ...(error.stack === undefined ? {} : { remoteStack: error.stack }),
      ...(error.rpcCode === undefined ? {} : { rpcCode: error.rpcCode }),
    });
    if (this.credit.failConsumer(key, remote)) return;
    if (!this.outgoing.reject(key, remote)) this.stats.unknownResponses++;
  }

  private whenIdle(callback: () => void): void {
    this.idleWaiters.push(callback);
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const idle = this.state === 'closed' || (this.outgoing.size === 0 && this.incoming.active === 0 && this.credit.consumingCount === 0);
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
    return queueFull(
      `${this.options.name}: ${this.outbox.bufferedBytes} bytes wait to be written (limit ${this.options.maxOutboundBytes}); the other side is not reading`,
    );
  }
}

type ParamsArgs<P> = [P] extends [void] ? [params?: undefined, options?: RequestOptions] : [params: P, options?: RequestOptions];
