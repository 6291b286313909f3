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
import { type Msg, errors as natsErrors, headers as natsHeaders, nuid } from '@nats-io/transport-node';
import { CancelledError, FrameTooLargeError, natsUnavailable, TimeoutError, unknownService } from '../../errors.js';
import { msgpackCodec } from '../../wire/msgpack.js';
import { decodeReply } from '../call-format.js';
import type { ServiceResponse } from '../define.js';
import { NatsLink } from './link.js';
import type { ResolvedNatsOptions } from './options.js';
import { callSubject, cancelSubject, HEADER } from './subjects.js';

export interface NatsCallerOptions {
  /** This client's name (Warren-Client, and the connection's name on the NATS server). */
  readonly name: string;
  /** Warren's token, read when the first call needs it. */
  readonly token: () => Promise<string>;
  /** A call's deadline when it gives none, in ms. */
  readonly timeoutMs: number;
}

export interface NatsCallOptions {
  timeout?: number;
  signal?: AbortSignal;
}

interface Pending {
  fail(error: Error): void;
}

export class NatsCaller {
  readonly link: NatsLink;
  private readonly pending = new Set<Pending>();
  private token: string | undefined;

  constructor(
    options: ResolvedNatsOptions,
    private readonly settings: NatsCallerOptions,
  ) {
    this.link = new NatsLink(options, `warren client ${settings.name}`);
    this.link.listen({
      onDown: (reason) => {
        // A reply published while the connection is down is lost: nothing in flight can be answered.
        const error = natsUnavailable(
          `${reason} while a call was in flight: it may or may not have run (reconnecting to ${this.link.servers} in the background)`,
        );
        for (const call of [...this.pending]) call.fail(error);
      },
    });
  }

  /** Sends `call` ([method, url, body?, headers?]) to an instance of `service` anywhere on NATS. */
  async call(service: string, call: unknown[], options?: NatsCallOptions): Promise<ServiceResponse> {
    const timeoutMs = options?.timeout ?? this.settings.timeoutMs;
    const startedAt = Date.now();
    if (this.link.state === 'connecting') await withinMs(this.link.settled, timeoutMs);
    this.token ??= await this.settings.token();
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
    if (this.link.state !== 'up' || connection === undefined) {
      return Promise.reject(
        natsUnavailable(
          `cannot call service '${service}' over NATS: NATS at ${this.link.servers} is not reachable (${this.link.lastError}); reconnecting in the background`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const callId = nuid.next();
    const headers = natsHeaders();
    headers.set(HEADER.token, this.token as string);
    headers.set(HEADER.client, this.settings.name);
    headers.set(HEADER.callId, callId);
    const payload = msgpackCodec.encode(call);
    // NATS refuses a message over its max_payload (1 MiB by default): said before it is sent.
    const maxPayload = connection.info?.max_payload;
    if (maxPayload !== undefined && payload.length > maxPayload) return Promise.reject(new FrameTooLargeError(payload.length, maxPayload));
    return new Promise<ServiceResponse>((resolve, reject) => {
      const cancel = () => {
        // Best effort: the instance stops the handler if it is still running.
        if (connection.isClosed()) return;
        try {
          connection.publish(cancelSubject(service, callId));
        } catch {
          // The connection went meanwhile: nothing runs that could be told.
        }
      };
      const onAbort = () => {
        cancel();
        entry.fail(new CancelledError());
      };
      const entry: Pending = {
        fail: (error) => {
          this.pending.delete(entry);
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.pending.add(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      connection.request(callSubject(service), payload, { timeout: timeoutMs, headers }).then(
        (msg: Msg) => {
          this.pending.delete(entry);
          signal?.removeEventListener('abort', onAbort);
          try {
            resolve(decodeReply(msgpackCodec.decode(Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength))));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          if (isTimeout(error)) cancel();
          entry.fail(this.translate(error, service, timeoutMs));
        },
      );
    });
  }

  private translate(error: unknown, service: string, timeoutMs: number): Error {
    if (isNoResponders(error))
      return unknownService(`no instance of service '${service}' on this host nor on NATS at ${this.link.servers}`);
    if (isTimeout(error)) {
      return new TimeoutError('warren.call', timeoutMs, `call to service '${service}' over NATS got no answer within ${timeoutMs} ms`);
    }
    return natsUnavailable(`call to service '${service}' over NATS failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }

  close(): Promise<void> {
    return this.link.close();
  }
}

function isNoResponders(error: unknown): boolean {
  if (error instanceof natsErrors.NoRespondersError) return true;
  return error instanceof natsErrors.RequestError && error.isNoResponders();
}

function isTimeout(error: unknown): boolean {
  return error instanceof natsErrors.TimeoutError || (error instanceof Error && error.cause instanceof natsErrors.TimeoutError);
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
