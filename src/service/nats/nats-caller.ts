/**
 * Calls a service over NATS request/reply: the call in the same format as on a socket, Warren's
 * token in a header, a deadline per call. What can go wrong is told at once and by code:
 * - no instance subscribed anywhere: NATS answers "no responders" → WARREN_UNKNOWN_SERVICE;
 * - NATS down (unreachable since start-up, or lost) → WARREN_NATS_UNAVAILABLE, without waiting
 *   for the deadline, and calls in flight when the connection drops fail the same way then;
 * - no answer within the deadline → WARREN_TIMEOUT; the caller's signal → WARREN_CANCELLED.
 * The last two also publish on the call's cancel subject, so the instance running it can stop.
 * The connection is re-established in the background (link.ts).
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { CancelledError, FrameTooLargeError, natsUnavailable, TimeoutError, unknownService } from '../../errors.js';
import { msgpackCodec } from '../../wire/msgpack.js';
import { decodeReply } from '../call-format.js';
import type { ServiceResponse } from '../define.js';
import { messageOf, NatsLink } from './link.js';
import type { ResolvedNatsOptions } from './options.js';
import { callSubject, cancelSubject, HEADER } from './subjects.js';
import type { NatsCallerOptions, NatsCallOptions } from './types.js';

export type { NatsCallerOptions, NatsCallOptions } from './types.js';

/** A call waiting for its answer, by its reply subject. */
interface Pending {
  readonly service: string;
  readonly timeoutMs: number;
  resolve(response: ServiceResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Correlates answers itself, on one subscription to `<inbox>.*`, rather than with the NATS
 * client's request(): that makes a request object, an async-trace Error and a promise chain per
 * call, which cost more than the rest of a call over NATS together (bench/nats). The reply
 * subject `<inbox>.<n>` is also the call's id: its cancel message names it.
 */
export class NatsCaller {
  readonly link: NatsLink;
  private readonly pending = new Map<string, Pending>();
  private token: string | undefined;
  private headers: MsgHdrs | undefined;
  private inbox = '';
  private subscribedOn: NatsConnection | undefined;
  private next = 0;

  constructor(
    options: ResolvedNatsOptions,
    private readonly settings: NatsCallerOptions,
  ) {
    this.link = new NatsLink(options, `warren client ${settings.name}`);
    this.link.listen({
      onUp: (connection) => {
        // The client restores its subscriptions after a reconnect; only a new connection needs one.
        if (this.subscribedOn === connection) return;
        this.subscribedOn = connection;
        this.inbox = createInbox();
        connection.subscribe(`${this.inbox}.*`, {
          callback: (error, msg) => {
            if (error === null) this.answer(msg);
          },
        });
      },
      onDown: (reason) => {
        // A reply published while the connection is down is lost: nothing in flight can be answered.
        const error = natsUnavailable(
          `${reason} while a call was in flight: it may or may not have run (reconnecting to ${this.link.servers} in the background)`,
        );
        for (const reply of [...this.pending.keys()]) this.settle(reply)?.reject(error);
      },
    });
  }

  /** Sends `call` ([method, url, body?, headers?]) to an instance of `service` anywhere on NATS. */
  async call(service: string, call: unknown[], options?: NatsCallOptions): Promise<ServiceResponse> {
    const timeoutMs = options?.timeout ?? this.settings.timeoutMs;
    const startedAt = Date.now();
    if (this.link.state === 'connecting') await withinMs(this.link.settled, timeoutMs);
    if (this.headers === undefined) {
      this.token ??= await this.settings.token();
      // The same headers on every call: made once.
      const headers = natsHeaders();
      headers.set(HEADER.token, this.token);
      headers.set(HEADER.client, this.settings.name);
      this.headers = headers;
    }
    const first = await this.once(service, call, timeoutMs, options?.signal);
    // An instance that was draining did not run the call: another one may (once).
    if (first.status === 503 && isDraining(first)) {
      const left = timeoutMs - (Date.now() - startedAt);
      if (left > 0) return this.once(service, call, left, options?.signal);
    }
    return first;
  }

  private once(service: string, call: unknown[], timeoutMs: number, signal: AbortSignal | undefined): Promise<ServiceResponse> {
    const connection = this.link.connection;
    if (this.link.state !== 'up' || connection === undefined || this.subscribedOn !== connection) {
      return Promise.reject(
        natsUnavailable(
          `cannot call service '${service}' over NATS: NATS at ${this.link.servers} is not reachable (${this.link.lastError}); reconnecting in the background`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const payload = msgpackCodec.encode(call);
    // NATS refuses a message over its max_payload (1 MiB by default): said before it is sent.
    const maxPayload = connection.info?.max_payload;
    if (maxPayload !== undefined && payload.length > maxPayload) return Promise.reject(new FrameTooLargeError(payload.length, maxPayload));
    const reply = `${this.inbox}.${(++this.next).toString(36)}`;
    return new Promise<ServiceResponse>((resolve, reject) => {
      const entry: Pending = { service, timeoutMs, resolve, reject, timer: undefined, signal: undefined, onAbort: undefined };
      this.pending.set(reply, entry);
      entry.timer = setTimeout(() => {
        this.cancel(service, reply);
        this.settle(reply)?.reject(
          new TimeoutError('warren.call', timeoutMs, `call to service '${service}' over NATS got no answer within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      if (signal !== undefined) {
        entry.signal = signal;
        entry.onAbort = () => {
          this.cancel(service, reply);
          this.settle(reply)?.reject(new CancelledError());
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      try {
        connection.publish(callSubject(service), payload, { reply, headers: this.headers as MsgHdrs });
      } catch (error) {
        this.settle(reply)?.reject(
          natsUnavailable(`call to service '${service}' over NATS could not be sent: ${messageOf(error)}`, { cause: error }),
        );
      }
    });
  }

  /** An answer, or NATS saying no instance listens (status 503 with no payload). */
  private answer(msg: Msg): void {
    const entry = this.settle(msg.subject);
    if (entry === undefined) return; // answered after its deadline or cancellation
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      entry.reject(unknownService(`no instance of service '${entry.service}' on this host nor on NATS at ${this.link.servers}`));
      return;
    }
    try {
      entry.resolve(decodeReply(msgpackCodec.decode(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength))));
    } catch (error) {
      entry.reject(error as Error);
    }
  }

  /** Takes a call out of the waiting ones (its timer and abort listener gone); undefined when it was settled already. */
  private settle(reply: string): Pending | undefined {
    const entry = this.pending.get(reply);
    if (entry === undefined) return undefined;
    this.pending.delete(reply);
    clearTimeout(entry.timer);
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort);
    return entry;
  }

  /** Best effort: the instance running the call stops its handler, if the message gets there. */
  private cancel(service: string, reply: string): void {
    const connection = this.link.connection;
    if (this.link.state !== 'up' || connection === undefined) return;
    try {
      connection.publish(cancelSubject(service), reply);
    } catch {
      // The connection went meanwhile: nothing runs that could be told.
    }
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

function isDraining(response: ServiceResponse): boolean {
  const body = response.body as { error?: { code?: unknown } } | null;
  return body?.error?.code === 'WARREN_DRAINING';
}

/** Waits for `promise`, but no longer than `ms` (the caller's deadline). */
function withinMs(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
