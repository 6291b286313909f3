/**
 * Streamed bodies (docs/protocol.md §13.2, "Streamed answers"): a route handler may answer a
 * body that is an AsyncIterable of bytes or strings (a Node Readable is one). The service then
 * answers `warren.call` with a peer stream (§9): first the head `[status, headers]`, then each
 * chunk as bytes, then STREAM_END; a failure mid-stream ends it with an ERROR. The peer's
 * credit makes the producer wait for its consumer, so a slow reader holds back the handler,
 * never fills anyone's memory. The caller (ServiceClient) gets `response.stream`.
 */
import { invalidArgument, ProtocolError, ServiceError } from '../errors.js';
import { isAsyncIterable } from '../util/guards.js';
import { Reply, type ServiceResponse } from './define.js';

/** What a streamed body yields: bytes, or strings (sent as their UTF-8 bytes). */
export type StreamChunk = Uint8Array | string;

/**
 * Answers a streamed body: `return streamed(createReadStream(path), { headers: { 'content-type': 'video/mp4' } })`.
 * `source` is an AsyncIterable of Uint8Array or string chunks (a Node Readable, an async generator).
 */
export function streamed(source: AsyncIterable<StreamChunk>, options: { status?: number; headers?: Record<string, string> } = {}): Reply {
  if (!isAsyncIterable(source)) throw invalidArgument('streamed() takes an AsyncIterable of bytes or strings (a Node Readable is one)');
  return new Reply(options.status ?? 200, source, options.headers ?? {});
}

/** Whether a handler's answer body is to be streamed. */
export function isStreamedBody(body: unknown): body is AsyncIterable<unknown> {
  return isAsyncIterable(body);
}

/** How the serving side reports a chunk source that failed, and learns that the stream is over. */
export interface StreamedAnswerHooks {
  /** The error the caller is sent for a failure of the source (a 500 that names the request). */
  failure(error: unknown): Error;
  /** Called once when the stream is over: ended, failed, or cancelled (also when never read). */
  done(): void;
}

/**
 * The serving side: the items the peer streams for a streamed response. A class, not a
 * generator, so that return() before the first next() still ends the source and calls done().
 */
export class StreamedAnswer implements AsyncIterableIterator<unknown> {
  private headSent = false;
  private over = false;
  private source: AsyncIterator<unknown> | undefined;

  constructor(
    private readonly response: ServiceResponse,
    private readonly hooks: StreamedAnswerHooks,
  ) {}

  async next(): Promise<IteratorResult<unknown>> {
    if (this.over) return { value: undefined, done: true };
    if (!this.headSent) {
      this.headSent = true;
      return { value: [this.response.status, this.response.headers], done: false };
    }
    try {
      this.source ??= (this.response.body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      for (;;) {
        const step = await this.source.next();
        if (step.done) {
          this.finish();
          return { value: undefined, done: true };
        }
        const chunk = toBytes(step.value);
        // An empty chunk carries nothing: it is not sent.
        if (chunk.length > 0) return { value: chunk, done: false };
      }
    } catch (error) {
      this.finish();
      throw this.hooks.failure(error);
    }
  }

  async return(): Promise<IteratorResult<unknown>> {
    if (!this.over) {
      this.finish();
      const source = this.source ?? (this.response.body as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      await source.return?.().catch(() => {});
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.hooks.done();
  }
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw new ServiceError(500, 'WARREN_INTERNAL', `a streamed body yields Uint8Array or string chunks, not ${kind}`);
}

/**
 * The calling side: the answer a peer stream carries, once its head has arrived. The body's
 * chunks are `response.stream`; reading them grants the service credit, and return() (a
 * `break` out of `for await`) cancels the call, even before the first chunk is read.
 */
export async function openStreamedReply(stream: AsyncIterable<unknown>): Promise<ServiceResponse> {
  const items = stream[Symbol.asyncIterator]();
  let first: IteratorResult<unknown>;
  try {
    first = await items.next();
  } catch (error) {
    await items.return?.().catch(() => {});
    throw error;
  }
  const head = first.value;
  if (first.done || !Array.isArray(head) || !Number.isInteger(head[0]) || !isStringRecord(head[1] ?? {})) {
    await items.return?.().catch(() => {});
    throw new ProtocolError('a streamed answer to warren.call must start with [status, headers]');
  }
  return {
    status: head[0] as number,
    headers: (head[1] as Record<string, string> | undefined) ?? {},
    body: undefined,
    stream: new StreamedBody(items),
  };
}

/** A streamed body as the caller reads it: bytes only, and a return() that also ends a pending next(). */
export class StreamedBody implements AsyncIterableIterator<Uint8Array> {
  private returned = false;
  /** Settles the next() in progress as done, when return() comes first. */
  private endPending: (() => void) | undefined;

  constructor(private readonly items: AsyncIterator<unknown>) {}

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.returned) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      let settled = false;
      const end = () => {
        settled = true;
        resolve({ value: undefined, done: true });
      };
      this.endPending = end;
      this.items.next().then(
        (step) => {
          if (settled) return;
          this.endPending = undefined;
          if (step.done) resolve({ value: undefined, done: true });
          else if (step.value instanceof Uint8Array) resolve({ value: step.value, done: false });
          else {
            void this.return();
            reject(new ProtocolError('a chunk of a streamed answer to warren.call is not bytes'));
          }
        },
        (error: unknown) => {
          if (settled) return;
          this.endPending = undefined;
          reject(error);
        },
      );
    });
  }

  async return(): Promise<IteratorResult<Uint8Array>> {
    if (!this.returned) {
      this.returned = true;
      const end = this.endPending;
      this.endPending = undefined;
      end?.();
      await this.items.return?.().catch(() => {});
    }
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

function isStringRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const key in value) if (typeof (value as Record<string, unknown>)[key] !== 'string') return false;
  return true;
}
