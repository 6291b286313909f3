/**
 * The requests and notifications a peer receives: the handler chains registered with
 * onRequest/onNotify, the concurrency limit and its queue, each running request's context
 * (cancellation, progress), and writing its answer: a result, an error, or a stream pumped
 * within the credit its consumer grants.
 */
import type { EventEmitter } from 'node:events';
import { CancelledError, isWarrenError, noHandler, overloaded, ProtocolError, remoteError, unsupported, WarrenError } from '../errors.js';
import { isAsyncIterable, isPromiseLike } from '../util/guards.js';
import type { Framing, RequestId, WireError } from '../wire/framing.js';
import { INITIAL_STREAM_CREDIT } from '../wire/header.js';
import type { ResolvedPeerOptions } from './options.js';
import type { NotifyHandler, Peer, PeerStats, RequestContext, RequestHandler } from './peer.js';
import type { StreamCredit } from './stream-credit.js';
import { pumpStream } from './streams.js';

export interface IncomingHost {
  readonly peer: Peer;
  readonly framing: Framing;
  readonly options: ResolvedPeerOptions;
  readonly stats: PeerStats;
  readonly events: EventEmitter;
  readonly credit: StreamCredit;
  /** Whether frames may still be written. */
  canWrite(): boolean;
  /** A handler finished: a graceful close may have been waiting for it. */
  handlerFinished(): void;
}

/** A request this side is answering. */
class Incoming implements RequestContext {
  private controller: AbortController | undefined = undefined;
  done = false;
  cancelled = false;
  /** In `running`: only once the handler has gone asynchronous (see track()). */
  tracked = false;
  constructor(
    readonly id: RequestId,
    readonly method: string,
    readonly peer: Peer,
    readonly codec: number,
    private readonly progressToken: RequestId,
    private readonly requests: IncomingRequests,
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
    this.requests.sendProgress(this.progressToken, value, this.codec);
  }
}

interface Registration<H> {
  method: string;
  handler: H;
}

type Queued = [id: RequestId, method: string, params: unknown, codec: number];

export class IncomingRequests {
  private readonly running = new Map<RequestId, Incoming>();
  private readonly waiting: Queued[] = [];
  private runningCount = 0;
  private requestHandlers: Registration<RequestHandler>[] = [];
  private notifyHandlers: Registration<NotifyHandler>[] = [];
  private readonly requestChains = new Map<string, RequestHandler[]>();
  private readonly notifyChains = new Map<string, NotifyHandler[]>();

  constructor(private readonly host: IncomingHost) {}

  /** Handlers running or queued. */
  get active(): number {
    return this.runningCount + this.waiting.length;
  }

  addRequestHandler(method: string, handler: RequestHandler): () => void {
    const reg = { method, handler };
    this.requestHandlers = [...this.requestHandlers, reg];
    this.requestChains.clear();
    return () => {
      this.requestHandlers = this.requestHandlers.filter((r) => r !== reg);
      this.requestChains.clear();
    };
  }

  addNotifyHandler(method: string, handler: NotifyHandler): () => void {
    const reg = { method, handler };
    this.notifyHandlers = [...this.notifyHandlers, reg];
    this.notifyChains.clear();
    return () => {
      this.notifyHandlers = this.notifyHandlers.filter((r) => r !== reg);
      this.notifyChains.clear();
    };
  }

  // ---- receiving ------------------------------------------------------------------------

  receive(id: RequestId, method: string, params: unknown, codec: number): void {
    if (this.isAnswering(id)) {
      this.sendError(id, new ProtocolError(`request id ${id} is already in use by a request this side is answering`), codec);
      return;
    }
    const { options } = this.host;
    if (this.runningCount >= options.maxConcurrent) {
      if (this.waiting.length >= options.maxQueued) {
        this.sendError(
          id,
          overloaded(`${options.name}: ${this.runningCount} requests running and ${this.waiting.length} queued; try again later`),
          codec,
        );
        return;
      }
      this.waiting.push([id, method, params, codec]);
      return;
    }
    this.run(id, method, params, codec);
  }

  /** A handler for request `id` is running (cancelled or not). */
  isRunning(id: RequestId): boolean {
    return this.running.has(id);
  }

  /** A request with this id is running (and not cancelled by its caller) or queued. */
  isAnswering(id: RequestId): boolean {
    const inc = this.running.get(id);
    if (inc !== undefined && !inc.cancelled) return true;
    if (this.waiting.length === 0) return false;
    for (const w of this.waiting) if (w[0] === id) return true;
    return false;
  }

  receiveNotify(method: string, params: unknown): void {
    for (const handler of this.notifyChain(method)) {
      let result: unknown;
      try {
        result = handler(params, this.host.peer);
      } catch (error) {
        this.host.events.emit(
          'badMessage',
          remoteError(`notification handler for '${method}' threw: ${(error as Error).message}`, {
            cause: error,
          }),
        );
        continue;
      }
      if (result !== undefined) return;
    }
  }

  /** The caller gave up on request `id`: a queued one is dropped, a running one aborted. */
  cancel(id: RequestId): void {
    const inc = this.running.get(id);
    if (inc === undefined) {
      const at = this.waiting.findIndex((w) => w[0] === id);
      if (at >= 0) this.waiting.splice(at, 1);
      return;
    }
    inc.abort(new CancelledError(`request '${inc.method}' cancelled by the caller`));
    this.host.credit.release(id);
  }

  /** Fails request `id` with `error`: it stops (or never runs) and the caller gets the error. */
  fail(id: RequestId, error: WarrenError): void {
    const inc = this.running.get(id);
    if (inc === undefined) {
      const at = this.waiting.findIndex((w) => w[0] === id);
      if (at < 0) return;
      const codec = (this.waiting[at] as Queued)[3];
      this.waiting.splice(at, 1);
      this.sendError(id, error, codec);
      return;
    }
    // The handler (or the stream it feeds) stops as if cancelled, and nothing more is sent for
    // it but this error.
    inc.abort(error);
    this.host.credit.release(id);
    this.sendError(id, error, inc.codec);
  }

  /** Aborts the producers waiting for credit: none can arrive any more. */
  abortWaitingProducers(reason: Error): void {
    for (const id of this.host.credit.waitingProducers()) {
      this.running.get(id)?.abort(reason);
      this.host.credit.release(id);
    }
  }

  /** The connection is gone: every handler is aborted, the queue dropped. */
  abortAll(reason: Error): void {
    for (const inc of this.running.values()) inc.abort(reason);
    this.running.clear();
    this.waiting.length = 0;
  }

  sendProgress(token: RequestId, value: unknown, codec: number): void {
    if (!this.host.canWrite()) return;
    try {
      this.host.framing.writeProgress(token, value, codec);
    } catch {
      // An unencodable progress value is dropped; the request itself goes on.
    }
  }

  sendError(id: RequestId, error: unknown, codec: number): void {
    if (!this.host.canWrite()) return;
    const e = error as { code?: unknown; message?: unknown; data?: unknown; stack?: unknown };
    const wire: WireError = {
      code: typeof e?.code === 'string' && e.code.length > 0 ? e.code : 'WARREN_REMOTE_ERROR',
      message: typeof e?.message === 'string' ? e.message : String(error),
    };
    if (e?.data !== undefined) wire.data = e.data;
    if (this.host.options.debug && typeof e?.stack === 'string') wire.stack = e.stack;
    try {
      this.host.framing.writeError(id, wire, codec);
    } catch {
      // The framing could not write even a bare error (e.g. an id JSON-RPC cannot carry):
      // dropping this one answer is better than throwing into the read loop.
    }
  }

  // ---- running --------------------------------------------------------------------------

  private run(id: RequestId, method: string, params: unknown, codec: number): void {
    const chain = this.requestChain(method);
    if (chain.length === 0) {
      this.sendError(id, noHandler(`no handler for method '${method}'`), codec);
      return;
    }
    const framing = this.host.framing;
    const token = framing.incomingProgressToken ? framing.incomingProgressToken(id, params) : id;
    const inc = new Incoming(id, method, this.host.peer, codec, token, this);
    this.runningCount++;
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
        this.track(inc);
        const next = i + 1;
        result.then(
          (value) => {
            if (value === undefined && next < chain.length) this.tryHandler(inc, chain, next, params);
            else if (value === undefined) this.finish(inc, undefined, noHandlerFor(inc.method));
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
    this.finish(inc, undefined, noHandlerFor(inc.method));
  }

  private finish(inc: Incoming, result: unknown, error: unknown): void {
    if (inc.done) return;
    const framing = this.host.framing;
    if (!this.host.canWrite()) {
      // Nothing can be sent any more, but the handler is no longer running.
      this.release(inc);
      return;
    }
    if (inc.cancelled) {
      this.release(inc);
      if (framing.answersCancelled) this.sendError(inc.id, new CancelledError(`request '${inc.method}' cancelled`), inc.codec);
      return;
    }
    if (error !== undefined) {
      this.release(inc);
      this.sendError(inc.id, error, inc.codec);
      return;
    }
    if (isAsyncIterable(result)) {
      this.stream(inc, result);
      return;
    }
    this.release(inc);
    try {
      framing.writeResponse(inc.id, result, false, inc.codec);
    } catch (cause) {
      // A coded failure (a result over the size limit, a CodecError) keeps its code.
      const code = isWarrenError(cause) ? cause.code : 'WARREN_CODEC';
      const message = `the result of '${inc.method}' could not be sent: ${(cause as Error).message}`;
      this.sendError(inc.id, new WarrenError(code, message, { data: isWarrenError(cause) ? cause.data : undefined }), inc.codec);
    }
  }

  private stream(inc: Incoming, source: AsyncIterable<unknown>): void {
    const { framing, credit } = this.host;
    if (!framing.supportsStreams) {
      this.release(inc);
      const message = `method '${inc.method}' returned a stream, which ${framing.name} framing cannot carry`;
      this.sendError(inc.id, unsupported(message), inc.codec);
      return;
    }
    this.track(inc);
    framing.writeResponse(inc.id, undefined, true, inc.codec);
    void pumpStream(source, {
      window: INITIAL_STREAM_CREDIT,
      isCancelled: () => inc.cancelled || !this.host.canWrite(),
      waitForCredit: () => credit.waitForCredit(inc.id),
      item: (value) => framing.writeStreamItem(inc.id, value, inc.codec),
      end: () => framing.writeStreamEnd(inc.id),
      fail: (err) => this.sendError(inc.id, err, inc.codec),
    }).finally(() => this.release(inc));
  }

  /**
   * Makes a request findable by its id (for cancel, credit, a reused id, abortAll) once its
   * handler returns a promise or a stream. A handler that answers synchronously is never
   * tracked: no frame can arrive while it runs, and a Map insert and delete per call was the
   * largest single cost of a small call on a busy server (bench/service).
   */
  private track(inc: Incoming): void {
    if (inc.tracked) return;
    inc.tracked = true;
    this.running.set(inc.id, inc);
  }

  private release(inc: Incoming): void {
    inc.done = true;
    // A cancelled request's id may already serve a newer request of the caller's.
    if (inc.tracked && this.running.get(inc.id) === inc) {
      this.running.delete(inc.id);
      this.host.credit.forget(inc.id);
    }
    this.runningCount--;
    while (this.runningCount < this.host.options.maxConcurrent && this.waiting.length > 0) {
      const [id, method, params, codec] = this.waiting.shift() as Queued;
      this.run(id, method, params, codec);
    }
    this.host.handlerFinished();
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
}

function noHandlerFor(method: string): WarrenError {
  return noHandler(`no handler answered method '${method}'`);
}
